import Glibc
import Runtime
import Syscalls

/// `scratch spec`: a starting config.json, as `runc spec` writes one, cut to what
/// scratch does: busybox's `sh` on a read-only `rootfs` beside the file (`scratch
/// rootfs build rootfs` makes one), a hostname, and the limits a workshop may hand out.
/// Written by hand, not encoded, so the properties come in the order the spec's
/// documents give them and a reader can follow the file top to bottom.
public let specTemplate = """
    {
    	"ociVersion": "1.0.2",
    	"process": {
    		"terminal": false,
    		"user": {
    			"uid": 0,
    			"gid": 0
    		},
    		"args": [
    			"sh"
    		],
    		"env": [
    			"PATH=\(defaultPath)"
    		],
    		"cwd": "/"
    	},
    	"root": {
    		"path": "rootfs",
    		"readonly": true
    	},
    	"hostname": "scratch",
    	"mounts": [],
    	"linux": {
    		"namespaces": [
    			{
    				"type": "pid"
    			},
    			{
    				"type": "ipc"
    			},
    			{
    				"type": "uts"
    			},
    			{
    				"type": "mount"
    			},
    			{
    				"type": "cgroup"
    			}
    		],
    		"resources": {
    			"memory": {
    				"limit": 67108864
    			},
    			"pids": {
    				"limit": 64
    			},
    			"cpu": {
    				"quota": 100000,
    				"period": 100000
    			}
    		}
    	}
    }

    """

/// Writes `config.json` in `bundle`; an existing one is kept, as runc keeps it.
public func writeSpec(bundle: String) throws(ContainerError) -> String {
    let path = (bundle.hasSuffix("/") ? bundle : bundle + "/") + "config.json"
    if fileKind(path, followLinks: false) != nil {
        throw ContainerError(step: "write the config", reason: "\(path) exists — remove it first, or give another --bundle DIR")
    }
    do {
        try writeFile(path, Array(specTemplate.utf8), mode: 0o644)
    } catch {
        throw ContainerError(step: "write the config", reason: "\(error)")
    }
    return path
}
