//! Cache prefetch hints for passes over the state of many services.
//!
//! With a thousand services, each service's state (its revision, pods, scaler windows, histograms) is
//! rarely still in the core's caches when the next request or tick reaches it, and the run waits on
//! memory rather than on instructions. A pass that knows which service it handles next asks the CPU to
//! start fetching that service's lines while it works on the current one.
//!
//! A prefetch is a hint: it never faults, reads or writes nothing the program sees, and changes no
//! result; on targets without the instruction these functions do nothing. Only addresses are computed
//! here (never dereferenced), so the functions are safe for any reference.

/// Cache line size assumed for spacing prefetches (64 bytes on x86-64 and most ARM cores).
const LINE: usize = 64;

/// Asks for the cache line holding `ptr`.
#[inline(always)]
pub fn prefetch_ptr(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch is a hint that never faults and changes no memory, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Asks for the first cache line of `value`.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    prefetch_ptr((value as *const T).cast::<u8>());
}

/// Asks for every cache line `value` spans, at most `max_lines` of them (from its start).
#[inline(always)]
pub fn prefetch_lines<T: ?Sized>(value: &T, max_lines: usize) {
    let start = (value as *const T).cast::<u8>();
    let size = std::mem::size_of_val(value);
    if size == 0 {
        return;
    }
    // Lines are counted from the line holding the first byte, so an unaligned value gets its last line.
    let offset = start as usize % LINE;
    let lines = (offset + size).div_ceil(LINE).min(max_lines);
    for i in 0..lines {
        prefetch_ptr(start.wrapping_add(i * LINE - if i == 0 { 0 } else { offset }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_change_nothing() {
        let values: Vec<u64> = (0..1000).collect();
        prefetch(&values[0]);
        prefetch_lines(&values[..], 4);
        prefetch_lines(&values[..], usize::MAX);
        prefetch_lines(&[] as &[u64], 4);
        let boxed: Box<dyn std::fmt::Debug> = Box::new(values.clone());
        prefetch_lines(&*boxed, 8);
        assert_eq!(values, (0..1000).collect::<Vec<u64>>());
    }
}
