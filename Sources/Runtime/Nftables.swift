import Glibc

// Chapter 9's firewall: libnftables, the library inside nft(8). It reads the same rule
// language nft reads and sends it to the kernel as one netlink transaction: a batch
// either takes effect whole or not at all, so a failure half-way leaves no rule behind.
// Like a netlink socket, it acts in the network namespace of the calling process.
//
// Loaded with dlopen(3) on first use, not linked: only bridge mode's first and last
// containers and published ports need a rule, and every other run (--network none,
// host, a bridge already made) would otherwise pay for loading it and its five
// libraries (nftnl, mnl, jansson, gmp, xtables) at start. It also keeps `scratch`
// linkable as a static executable (tools/bench): Debian ships no libnftables.a.

/// What libnftables refused, in its words.
public struct NftablesError: Error, CustomStringConvertible, Sendable {
    public let request: String
    public let message: String

    public var description: String { "nftables, \(request): \(message)" }
}

/// libnftables' six functions, found at run time.
private struct NftablesLibrary: @unchecked Sendable {
    typealias New = @convention(c) (UInt32) -> OpaquePointer?
    typealias Free = @convention(c) (OpaquePointer?) -> Void
    typealias Buffer = @convention(c) (OpaquePointer?) -> Int32
    typealias Get = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    typealias Run = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32

    let new: New
    let free: Free
    let bufferOutput: Buffer
    let bufferError: Buffer
    let output: Get
    let error: Get
    let run: Run

    static let loaded: Result<NftablesLibrary, NftablesError> = {
        guard let handle = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(NftablesError(request: "dlopen(libnftables.so.1)", message: "\(reason) — install libnftables1 (apt-get install libnftables1)"))
        }
        func symbol<T>(_ name: String, _ type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard let new = symbol("nft_ctx_new", New.self), let free = symbol("nft_ctx_free", Free.self),
            let bufferOutput = symbol("nft_ctx_buffer_output", Buffer.self), let bufferError = symbol("nft_ctx_buffer_error", Buffer.self),
            let output = symbol("nft_ctx_get_output_buffer", Get.self), let error = symbol("nft_ctx_get_error_buffer", Get.self),
            let run = symbol("nft_run_cmd_from_buffer", Run.self)
        else {
            return .failure(NftablesError(request: "dlsym", message: "libnftables.so.1 lacks the nft_ctx_* functions"))
        }
        return .success(
            NftablesLibrary(new: new, free: free, bufferOutput: bufferOutput, bufferError: bufferError, output: output, error: error, run: run))
    }()
}

/// One libnftables context.
final class Nftables {
    private let library: NftablesLibrary
    private let context: OpaquePointer

    init() throws {
        library = try NftablesLibrary.loaded.get()
        // NFT_CTX_DEFAULT is 0.
        guard let context = library.new(0) else { throw NftablesError(request: "nft_ctx_new", message: "out of memory") }
        // Output and errors into buffers, not onto our standard output and error.
        _ = library.bufferOutput(context)
        _ = library.bufferError(context)
        self.context = context
    }

    deinit { library.free(context) }

    /// Runs `commands` (nft's language, one transaction) and returns what nft would
    /// have printed.
    @discardableResult
    func run(_ commands: String, what request: String) throws -> String {
        let result = library.run(context, commands)
        if result != 0 {
            let message = library.error(context).map { String(cString: $0) } ?? "error \(result)"
            throw NftablesError(
                request: request, message: message.split(separator: "\n").first.map(String.init) ?? "error \(result)")
        }
        return library.output(context).map { String(cString: $0) } ?? ""
    }
}
