import RunOptions
import Runtime
import Testing

/// Chapter 5's overlay mount options: layer order, escaping, and the one-page limit.
@Suite struct LayerOptionsTests {
    @Test("lowerdir lists the top layer first, relative to the store; upper and work are the container's")
    func order() {
        let layers = ContainerLayers(store: "/s/layers", layers: ["base", "middle", "top"], directory: "/s/containers/abc")
        #expect(overlayMountOptions(layers) == "lowerdir=top:middle:base,upperdir=/s/containers/abc/upper,workdir=/s/containers/abc/work")
    }

    @Test("':' and ',' (and the backslash itself) are escaped with a backslash")
    func escaping() {
        #expect(escapedOverlayPath("/a:b,c\\d") == "/a\\:b\\,c\\\\d")
        let layers = ContainerLayers(store: "/x", layers: ["l"], directory: "/h:1,2/c")
        #expect(overlayMountOptions(layers) == "lowerdir=l,upperdir=/h\\:1\\,2/c/upper,workdir=/h\\:1\\,2/c/work")
    }

    @Test("a layer the image lists twice is mounted once, at its topmost place")
    func repeatedLayer() {
        // Before: lowerdir=a:x:a, and every run of such an image failed with ELOOP.
        let layers = ContainerLayers(store: "/s", layers: ["a", "x", "a", "b"], directory: "/c")
        #expect(layers.layers == ["x", "a", "b"])
        #expect(overlayMountOptions(layers).hasPrefix("lowerdir=b:a:x,"))
    }

    @Test("sixty 64-digit layers fit in one page: names are relative to the store")
    func manyLayers() {
        // Sixty different names: a name repeated is one layer (see `repeatedLayer`).
        let names = (0..<60).map { String(repeating: "f", count: 62) + ($0 < 10 ? "0\($0)" : "\($0)") }
        #expect(ContainerLayers(store: "/s", layers: names, directory: "/c").layers.count == 60)
        let layers = ContainerLayers(
            store: "/var/lib/a/long/home/that/does/not/count/layers", layers: names, directory: "/var/lib/a/long/home/containers/0123456789ab")
        #expect(overlayMountOptions(layers).utf8.count < 4096)
    }

    @Test("one word then -- names an image; a leading -- makes everything the command")
    func imageWord() throws {
        let image = try #require(RunRequest(plainArguments: ["--rm", "test:four", "--", "ls", "/"]))
        #expect(image.image == "test:four" && image.command == ["ls", "/"])
        let plain = try #require(RunRequest(plainArguments: ["--", "test:four", "--", "ls"]))
        #expect(plain.image == nil && plain.command == ["test:four", "--", "ls"])
        let docker = try #require(RunRequest(plainArguments: ["sh", "-c", "echo hi"]))
        #expect(docker.image == nil && docker.command == ["sh", "-c", "echo hi"])
    }

    @Test("--rm reads the same on the fast path and through ArgumentParser")
    func removeFlag() throws {
        let request = try #require(RunRequest(plainArguments: ["--rm", "--", "true"]))
        #expect(request.removeWhenDone && request.command == ["true"])
    }
}
