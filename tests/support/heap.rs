//! Heap bytes live in this test process, counted by a global allocator (no unsafe code here):
//! include with `#[path = "support/heap.rs"] mod heap;` in a test that measures memory only, as
//! the allocator then counts for the whole test binary.
#![allow(dead_code, unreachable_pub)]

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes live on the heap.
pub fn live() -> isize {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize + stats.bytes_reallocated
}
