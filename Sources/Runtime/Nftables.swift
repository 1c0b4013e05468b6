import CNftables
import Glibc

// Chapter 9's firewall: libnftables, the library inside nft(8). It reads the same rule
// language nft reads and sends it to the kernel as one netlink transaction: a batch
// either takes effect whole or not at all, so a failure half-way leaves no rule behind.
// Like a netlink socket, it acts in the network namespace of the calling process.

/// What libnftables refused, in its words.
public struct NftablesError: Error, CustomStringConvertible, Sendable {
    public let request: String
    public let message: String

    public var description: String { "nftables, \(request): \(message)" }
}

/// One libnftables context.
final class Nftables {
    let context: OpaquePointer

    init() throws {
        guard let context = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else {
            throw NftablesError(request: "nft_ctx_new", message: "out of memory")
        }
        // Output and errors into buffers, not onto our standard output and error.
        _ = nft_ctx_buffer_output(context)
        _ = nft_ctx_buffer_error(context)
        self.context = context
    }

    deinit { nft_ctx_free(context) }

    /// Runs `commands` (nft's language, one transaction) and returns what nft would
    /// have printed.
    @discardableResult
    func run(_ commands: String, what request: String) throws -> String {
        let result = nft_run_cmd_from_buffer(context, commands)
        if result != 0 {
            let message = nft_ctx_get_error_buffer(context).map { String(cString: $0) } ?? "error \(result)"
            throw NftablesError(
                request: request,
                message: message.split(separator: "\n").first.map(String.init) ?? "error \(result)")
        }
        return nft_ctx_get_output_buffer(context).map { String(cString: $0) } ?? ""
    }
}
