//! Test fixture: writes through a null pointer before it is ready, so the kernel reports a page
//! fault and a hot-swap to this image rolls back.
#![no_std]
#![no_main]

fn main(_task_id: u64) -> i64 {
    agent_rt::log("faulty: about to fault");
    // SAFETY: deliberately invalid: this agent exists to fault.
    unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 0xdead) };
    0
}

agent_rt::entry!(main);
