"""A small seccomp-BPF filter for sandboxed containers, generated without libseccomp.

It fails (EPERM) the system calls that reach into the kernel's most exposed surface or
could undo the sandbox: namespaces, mounts, tracing, modules, keyrings, BPF, io_uring (a
large share of recent kernel privilege escalations, and a way around syscall filtering). Dropping
capabilities already stops most of them; the filter also shields the kernel code behind
them from an unprivileged caller. clone() with a CLONE_NEW* flag is refused as unshare()
would be; clone3() answers ENOSYS so that libc falls back to the filterable clone().
Calls from another ABI (i386 via int 0x80, x32) are refused outright: their numbers differ.
"""

from __future__ import annotations

import errno
import platform
import struct

# Architectures as seccomp reports them (AUDIT_ARCH_*), with their system call numbers.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000  # x86_64 numbers with this bit are the x32 ABI

# Denied calls, then clone/clone3 (handled apart): name, x86_64 number, aarch64 number (- if absent).
_TABLE = """
ptrace             101  117
mount              165  40
umount2            166  39
unshare            272  97
setns              308  268
pivot_root         155  41
chroot             161  51
kexec_load         246  104
kexec_file_load    320  294
init_module        175  105
finit_module       313  273
delete_module      176  106
bpf                321  280
keyctl             250  219
add_key            248  217
request_key        249  218
perf_event_open    298  241
process_vm_readv   310  270
process_vm_writev  311  271
userfaultfd        323  282
open_by_handle_at  304  265
name_to_handle_at  303  264
swapon             167  224
swapoff            168  225
reboot             169  142
acct               163  89
syslog             103  116
iopl               172  -
ioperm             173  -
quotactl           179  60
mount_setattr      442  442
move_mount         429  429
open_tree          428  428
fsopen             430  430
fsconfig           431  431
fsmount            432  432
fspick             433  433
settimeofday       164  170
clock_settime      227  112
clock_adjtime      305  266
adjtimex           159  171
lookup_dcookie     212  18
vhangup            153  58
io_uring_setup     425  425
io_uring_enter     426  426
io_uring_register  427  427
nfsservctl         180  42
clone              56   220
clone3             435  435
"""
_ROWS = [line.split() for line in _TABLE.strip().splitlines()]
_NUMBERS = {
    machine: {row[0]: int(row[col]) for row in _ROWS if row[col] != "-"}
    for col, machine in ((1, "x86_64"), (2, "aarch64"))
}
DENIED = [row[0] for row in _ROWS if row[0] not in ("clone", "clone3")]

# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NEW_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
# Offsets in struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (little-endian: low half first).
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LOW = 0, 4, 16


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)  # struct sock_filter


def build_filter(machine: str | None = None) -> bytes:
    """The filter as raw struct sock_filter records, the form `bwrap --seccomp FD` reads."""
    machine = machine or platform.machine()
    if machine not in _NUMBERS:
        raise RuntimeError(f"no seccomp syscall table for {machine}")
    numbers = _NUMBERS[machine]
    denied = [numbers[name] for name in DENIED if name in numbers]
    eperm, enosys = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.ENOSYS
    prog = [_insn(_LD_W_ABS, _OFF_ARCH), _insn(_JEQ_K, _AUDIT_ARCH[machine], jt=1), _insn(_RET_K, eperm)]
    prog.append(_insn(_LD_W_ABS, _OFF_NR))
    if machine == "x86_64":
        prog += [_insn(_JGE_K, _X32_BIT, jf=1), _insn(_RET_K, eperm)]
    # clone3 passes its flags in memory that BPF cannot read: make libc fall back to clone().
    prog += [_insn(_JEQ_K, numbers["clone3"], jf=1), _insn(_RET_K, enosys)]
    prog += [
        _insn(_JEQ_K, numbers["clone"], jf=3),
        _insn(_LD_W_ABS, _OFF_ARG0_LOW),
        _insn(_JSET_K, CLONE_NEW_MASK, jf=1),
        _insn(_RET_K, eperm),
        _insn(_LD_W_ABS, _OFF_NR),  # (the clone path falls through here too; reloading is harmless)
    ]
    # One comparison per denied call; each jumps to the shared EPERM return at the end.
    for i, nr in enumerate(denied):
        prog.append(_insn(_JEQ_K, nr, jt=len(denied) - i))
    prog += [_insn(_RET_K, _RET_ALLOW), _insn(_RET_K, eperm)]
    return b"".join(prog)


def denied_numbers(machine: str | None = None) -> dict[str, int]:
    """Denied syscall names to numbers on this machine (for OCI specs and tests)."""
    numbers = _NUMBERS[machine or platform.machine()]
    return {name: numbers[name] for name in DENIED if name in numbers}
