//! The only module with `unsafe` code: thin wrappers over OS facilities
//! that have no safe interface. Each block states why it is sound.

use std::fs::File;
use std::io;

/// Memory-maps a file read-only.
///
/// Soundness: the mapping is read-only and private. ward never writes a
/// mapped artifact in place: new lists are written to a temporary file and
/// renamed over the old path, which leaves existing mappings of the old
/// inode intact. A *different* process truncating the file in place would
/// make reads fault (SIGBUS); the state directory belongs to ward's user,
/// and operators replace lists with `ward`'s own tools or `install`/`mv`,
/// as the deployment guide says.
#[allow(unsafe_code)]
pub fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: see above; the Mmap owns the mapping and unmaps on drop.
    unsafe { memmap2::MmapOptions::new().map(file) }
}
