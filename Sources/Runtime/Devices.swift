import CLinux
import Glibc
import Syscalls

// Chapter 7 — device control.
//
// A device node is only a name for a (type, major, minor) number: whoever may call
// mknod(2) (CAP_MKNOD, in Docker's default set) can make /dev/sda or /dev/kmsg in any
// directory and open the host's disk or kernel log through it. The devices cgroup
// decides which numbers a process may open or make, whatever the node's name or place.
// A container gets exactly the devices its /dev has (mountDev in KernelFilesystems.swift).

/// The container's devices: the nodes mountDev makes, /dev/pts/ptmx (5:2) and its
/// ptys (136:*, "any minor": -1).
public let containerDevices: [(major: Int, minor: Int)] = [
    (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (136, -1),
]

/// cgroup v1's devices controller: deny all ("a"), then allow each of ours for read,
/// write and mknod. Written in the parent, into the container's group, before the
/// child is let go.
public func deviceCgroupFilesV1() -> [CgroupFile] {
    [CgroupFile("devices.deny", "a")]
        + containerDevices.map { CgroupFile("devices.allow", "c \($0.major):\($0.minor == -1 ? "*" : String($0.minor)) rwm") }
}

/// cgroup v2 has no devices files: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
/// attached to the group, answers each open or mknod (1 allow, 0 deny). It is what
/// runc and crun generate from the same list; the kernel hands it a
/// `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }` in r1.
func deviceProgramV2() -> [UInt64] {
    // eBPF instructions: opcode (8 bits), dst and src registers (4 bits each), a
    // 16-bit offset and a 32-bit immediate, little-endian in one 64-bit word.
    func instruction(_ code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, immediate: Int32 = 0) -> UInt64 {
        UInt64(code) | UInt64(dst & 0xf) << 8 | UInt64(src & 0xf) << 12 | UInt64(UInt16(bitPattern: offset)) << 16
            | UInt64(UInt32(bitPattern: immediate)) << 32
    }
    let loadWord: UInt8 = 0x61  // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + offset)
    let andImmediate: UInt8 = 0x54  // BPF_ALU | BPF_AND | BPF_K
    let jumpNotEqual: UInt8 = 0x55  // BPF_JMP | BPF_JNE | BPF_K: if dst != imm, pc += offset
    let moveImmediate: UInt8 = 0xb7  // BPF_ALU64 | BPF_MOV | BPF_K
    let exit: UInt8 = 0x95
    var program: [UInt64] = [
        instruction(loadWord, dst: 2, src: 1, offset: 0),  // r2 = access_type
        instruction(andImmediate, dst: 2, immediate: 0xffff),  // r2 = device type (1 block, 2 char)
        instruction(loadWord, dst: 4, src: 1, offset: 4),  // r4 = major
        instruction(loadWord, dst: 5, src: 1, offset: 8),  // r5 = minor
    ]
    for device in containerDevices {
        // Each rule: a char device of this major (and minor) returns 1; otherwise
        // jump past the rule's return to the next rule.
        let checks = device.minor == -1 ? 2 : 3
        program.append(instruction(jumpNotEqual, dst: 2, offset: Int16(checks + 1), immediate: 2))
        program.append(instruction(jumpNotEqual, dst: 4, offset: Int16(checks), immediate: Int32(device.major)))
        if device.minor != -1 {
            program.append(instruction(jumpNotEqual, dst: 5, offset: 2, immediate: Int32(device.minor)))
        }
        program.append(instruction(moveImmediate, dst: 0, immediate: 1))
        program.append(instruction(exit))
    }
    program.append(instruction(moveImmediate, dst: 0, immediate: 0))
    program.append(instruction(exit))
    return program
}

/// Loads the device program and attaches it to the container's v2 group. The attach
/// holds the program: our descriptor is closed at once, and the program goes with the
/// group.
public func attachDeviceProgram(toGroup directory: String) throws {
    let group = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if group == -1 { throw SyscallError("open", path: directory) }
    defer { close(group) }
    let program = deviceProgramV2()
    var log = [CChar](repeating: 0, count: 4096)
    let fd = program.withUnsafeBytes { code in
        log.withUnsafeMutableBufferPointer { cl_attach_device_program(group, code.baseAddress, UInt32(program.count), $0.baseAddress, 4096) }
    }
    if fd == -1 {
        let code = errno
        let verifier = String(cString: log).split(separator: "\n").suffix(3).joined(separator: " / ")
        throw SyscallError(
            "bpf(BPF_PROG_LOAD/ATTACH, BPF_CGROUP_DEVICE)", path: directory, errno: code,
            hint: verifier.isEmpty ? "the kernel needs CONFIG_CGROUP_BPF" : "the verifier said: \(verifier)")
    }
    close(fd)
}
