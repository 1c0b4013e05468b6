// Where a config file stops being JSON. Foundation's decoder says only "The given data
// was not valid JSON." (and lets a trailing comma pass); a person editing a config by
// hand needs the line and column. This checks the syntax of RFC 8259 strictly, before
// the decoder runs: a few microseconds for a config's few kilobytes.

/// The first syntax error in `bytes` as "line L, column C: what was expected", or nil
/// when the text is one JSON value.
func jsonSyntaxError(_ bytes: [UInt8]) -> String? {
    var checker = JSONSyntaxChecker(bytes: bytes)
    do {
        checker.skipSpace()
        try checker.value(depth: 0)
        checker.skipSpace()
        if checker.position < bytes.count { throw checker.failure("the end of the file after the top-level value") }
        return nil
    } catch let error as JSONSyntaxFailure {
        return error.message
    } catch {
        return "\(error)"
    }
}

struct JSONSyntaxFailure: Error {
    let message: String
}

private struct JSONSyntaxChecker {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func failure(_ expected: String) -> JSONSyntaxFailure {
        var line = 1
        var column = 1
        for byte in bytes[..<min(position, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        let found: String
        if position >= bytes.count {
            found = "the end of the file"
        } else {
            let byte = bytes[position]
            found = byte >= 0x20 && byte < 0x7F ? "'\(Character(UnicodeScalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        }
        return JSONSyntaxFailure(message: "line \(line), column \(column): expected \(expected), found \(found)")
    }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxFailure) {
        guard current == byte else { throw failure(what) }
        position += 1
    }

    mutating func value(depth: Int) throws(JSONSyntaxFailure) {
        // A config is shallow; a deep nest is a mistake or an attack on the stack.
        if depth > 100 { throw failure("at most 100 nested arrays and objects") }
        guard let byte = current else { throw failure("a value (an object, array, string, number, true, false or null)") }
        switch byte {
        case UInt8(ascii: "{"): try object(depth: depth)
        case UInt8(ascii: "["): try array(depth: depth)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw failure("a value (an object, array, string, number, true, false or null)")
        }
    }

    mutating func object(depth: Int) throws(JSONSyntaxFailure) {
        position += 1
        skipSpace()
        if current == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            guard current == UInt8(ascii: "\"") else { throw failure("a property name in double quotes") }
            try string()
            skipSpace()
            try expect(UInt8(ascii: ":"), "':' after the property name")
            skipSpace()
            try value(depth: depth + 1)
            skipSpace()
            if current == UInt8(ascii: ",") {
                position += 1
                skipSpace()
                continue
            }
            try expect(UInt8(ascii: "}"), "',' or '}' (is a comma missing?)")
            return
        }
    }

    mutating func array(depth: Int) throws(JSONSyntaxFailure) {
        position += 1
        skipSpace()
        if current == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            try value(depth: depth + 1)
            skipSpace()
            if current == UInt8(ascii: ",") {
                position += 1
                skipSpace()
                continue
            }
            try expect(UInt8(ascii: "]"), "',' or ']' (is a comma missing?)")
            return
        }
    }

    mutating func string() throws(JSONSyntaxFailure) {
        position += 1
        while let byte = current {
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return
            case UInt8(ascii: "\\"):
                guard let escaped = current else { break }
                if escaped == UInt8(ascii: "u") {
                    position += 1
                    for _ in 0..<4 {
                        guard let hex = current, (hex >= 48 && hex <= 57) || (hex | 0x20 >= 97 && hex | 0x20 <= 102) else {
                            throw failure("four hex digits after \\u")
                        }
                        position += 1
                    }
                } else if Array("\"\\/bfnrt".utf8).contains(escaped) {
                    position += 1
                } else {
                    throw failure("an escape: \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX")
                }
            case 0..<0x20:
                position -= 1
                throw failure("no control character inside a string (write \\n for a newline)")
            default: continue
            }
        }
        throw failure("'\"' to end the string")
    }

    mutating func literal(_ word: String) throws(JSONSyntaxFailure) {
        let start = position
        for byte in word.utf8 {
            guard current == byte else {
                position = start
                throw failure(word)
            }
            position += 1
        }
    }

    mutating func number() throws(JSONSyntaxFailure) {
        func digits() -> Int {
            let start = position
            while let byte = current, byte >= 48 && byte <= 57 { position += 1 }
            return position - start
        }
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if digits() == 0 {
            throw failure("a digit")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            if digits() == 0 { throw failure("a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            if digits() == 0 { throw failure("a digit in the exponent") }
        }
    }
}
