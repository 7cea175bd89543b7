//! Faults of user tasks: the record (registers, a frame-pointer walk of the user stack, the
//! image's sha256), the `fault` event, the end of the task — every thread of a Linux process —
//! and the supervisor's policy. Reached from the trap handler and from fatal signals.
use crate::events;
use crate::idt::TrapFrame;
use crate::kernel::{self, Kernel};
use crate::memory;
use crate::modules;
use crate::task;
use crate::time;
use core::fmt::Write;
use kcore::fmt::JsonStr;

pub const EXCEPTIONS: [&str; 32] = [
    "divide_error", "debug", "nmi", "breakpoint", "overflow", "bound_range", "invalid_opcode", "device_not_available",
    "double_fault", "coprocessor_overrun", "invalid_tss", "segment_not_present", "stack_fault", "general_protection",
    "page_fault", "reserved", "x87_fp", "alignment_check", "machine_check", "simd_fp", "virtualization", "control_protection",
    "reserved", "reserved", "reserved", "reserved", "reserved", "reserved", "hypervisor_injection", "vmm_communication",
    "security", "reserved",
];

/// What a selector error code (#TS, #NP, #SS, #GP) says beyond its number. With the IDT flag
/// (bit 1) the fault was raised while the CPU delivered an interrupt or exception through the
/// IDT, not by the instruction at rip — as when QEMU delivered a withdrawn interrupt request as
/// "vector -1" (issue 32, error 0xfffffffffffffff2), which was first read as a system call's
/// -EFAULT.
pub fn error_note(vector: u64, error: u64) -> &'static str {
    if matches!(vector, 10..=13) && error & 2 != 0 {
        " (IDT flag: raised delivering an interrupt through the IDT, not by the instruction at rip)"
    } else {
        ""
    }
}

/// Record and report a fault of the current task `i` (a CPU exception, or for vectors from
/// 0x100 a fatal signal / the memory limit, named by `label`), end it — every thread of a Linux
/// process — and let the supervisor apply the module's policy.
pub fn fault_task(k: &mut Kernel, frame: &mut TrapFrame, i: usize, v: u64, cr2: u64, label: Option<&str>) {
    let (id, name, cr3, module) = (k.task(i).id, kernel::Name::new(k.task(i).name()), k.task(i).cr3, k.task(i).module);
    let f = kernel::FaultInfo {
        t_us: time::now_us(),
        vector: v,
        rip: frame.rip,
        cr2,
        error: frame.error,
        task: id,
        name,
        rsp: frame.rsp,
        rbp: frame.rbp,
        rax: frame.rax,
        rdi: frame.rdi,
        rsi: frame.rsi,
        stack: stack_snapshot(cr3, frame.rbp),
        image_sha: if k.task(i).image_sha == [0; 32] { modules::ensure_hashed(k, module) } else { k.task(i).image_sha },
        load_bias: k.task(i).proc.and_then(|p| k.procs[p].as_ref()).map(|p| p.vm.load_bias).unwrap_or(u64::MAX),
    };
    k.record_fault(f);
    let module_name = k.modules.get(module).and_then(|m| m.as_ref()).map(|m| m.name).unwrap_or(kernel::Name::EMPTY);
    let exception = label.unwrap_or_else(|| EXCEPTIONS.get(v as usize).copied().unwrap_or("fault"));
    events::emit("fault", |w| {
        let _ = write!(
            w,
            ",\"task\":{},\"name\":{},\"module\":{},\"exception\":{},\"vector\":{},\"rip\":\"{:#x}\",\"cr2\":\"{:#x}\",\"error\":{},",
            id,
            JsonStr(name.as_str()),
            JsonStr(module_name.as_str()),
            JsonStr(exception),
            v,
            frame.rip,
            cr2,
            frame.error
        );
        write_fault_regs(w, &f);
    });
    match k.task(i).proc {
        Some(p) => crate::exit::end_process(k, p, task::State::Faulted),
        None => crate::exit::retire(k, i, task::State::Faulted),
    }
    modules::on_fault(k, module, f);
    crate::lifecycle::sweep(k);
    k.reschedule(frame);
}

/// Return addresses of the faulting task's user stack by frame pointers (agents are built
/// with them): each frame is [saved rbp, return address]. Read through the task's page tables
/// with checked copies, so a corrupt chain ends the walk, never the kernel.
fn stack_snapshot(cr3: u64, mut rbp: u64) -> [u64; kernel::STACK_FRAMES] {
    let mut out = [0u64; kernel::STACK_FRAMES];
    for slot in out.iter_mut() {
        let mut pair = [0u8; 16];
        if rbp % 8 != 0 || memory::copy_from_user(cr3, rbp, &mut pair).is_none() {
            break;
        }
        let next = u64::from_le_bytes(pair[..8].try_into().unwrap_or([0; 8]));
        let ret = u64::from_le_bytes(pair[8..].try_into().unwrap_or([0; 8]));
        if ret == 0 {
            break;
        }
        *slot = ret;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    out
}

/// `"rsp":…,"rbp":…,"rax":…,"rdi":…,"rsi":…,"stack":[…]` of a fault record.
pub fn write_fault_regs(w: &mut kcore::fmt::BufWriter, f: &kernel::FaultInfo) {
    let _ = write!(w, "\"rsp\":\"{:#x}\",\"rbp\":\"{:#x}\",\"rax\":\"{:#x}\",\"rdi\":\"{:#x}\",\"rsi\":\"{:#x}\",\"stack\":[", f.rsp, f.rbp, f.rax, f.rdi, f.rsi);
    let mut first = true;
    for a in f.stack.iter().take_while(|a| **a != 0) {
        let _ = write!(w, "{}\"{:#x}\"", if first { "" } else { "," }, a);
        first = false;
    }
    let _ = write!(w, "],\"sha256\":\"{}\"", kcore::fmt::Hex(&f.image_sha));
    if f.load_bias != u64::MAX {
        let _ = write!(w, ",\"load_bias\":\"{:#x}\"", f.load_bias);
    }
}
