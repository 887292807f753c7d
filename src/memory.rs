//! The allocator's settings for a scan: a run holds much for a while (the
//! files found, the positions known, a batch's states) and frees it in
//! the middle, so what glibc keeps of freed memory is part of its peak
//! (see `docs/performance.md`). Elsewhere these do nothing.

/// Sets glibc's allocator for a run: two heaps (arenas) for the run's
/// threads, not eight a core, so that memory one thread frees is reused by
/// the others (about 10 MiB less at the peak of a first run over 100,000
/// files, in the same time). Set before the scan's threads first
/// allocate.
///
/// Not set: a fixed threshold for blocks in their own mappings
/// (`M_MMAP_THRESHOLD`). At 128 KiB it gave 5 MiB less at that peak, but
/// fixing it also stops glibc from adapting when it trims its heap, and a
/// cold scan of the 2 GiB mixed home took 25% longer (0.41 of `cat`'s
/// speed instead of 0.55; 0.52 at 32 MiB). Tried again once read buffers
/// were kept from file to file: 2 MiB less at that peak, and still 15%
/// longer on the Claude Code home (`docs/performance.md`, tenth stop).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of the allocator's parameters.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the memory freed so far to the system (glibc keeps it in its
/// heaps otherwise, and what is made next in new mappings adds to it):
/// as the files found are made into sources, once a batch is built (before
/// it is sent and committed), and between a run's batches.
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
