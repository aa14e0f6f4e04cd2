//! The store's files are its owner's alone: directories 0700, files 0600, whatever the
//! process's umask. What Flit creates itself gets that mode as it is created; sled, redb and
//! fjall create their own files with the umask's mode, so the store takes group and other bits
//! off everything under its directory after the backend opened (and, for sled, again for each
//! new blob and when the store closes; for fjall, whose worker threads create files, at most a
//! second after they appear and when the store closes). Nothing here follows a symbolic link.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Group and other bits: none may be set on anything in the store.
pub(crate) const SHARED_BITS: u32 = 0o077;
pub(crate) const DIR_MODE: u32 = 0o700;
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and any missing parent) 0700; an existing one is left to [`tighten`].
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates `path` empty with mode 0600 if it does not exist, so a backend that opens it later
/// never has it readable by others, not even for a moment.
pub(crate) fn create_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
}

/// Takes the group and other bits off `path` and, for a directory, everything under it.
/// Entries that vanish meanwhile (sled deletes blobs and snapshots it replaced, fjall tables it
/// compacted and journals it flushed) are skipped.
pub(crate) fn tighten(path: &Path) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let mode = metadata.permissions().mode();
    if mode & SHARED_BITS != 0 {
        let private = Permissions::from_mode(mode & 0o7777 & !SHARED_BITS);
        if let Err(error) = std::fs::set_permissions(path, private)
            && error.kind() != io::ErrorKind::NotFound
        {
            return Err(error);
        }
    }
    if metadata.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        for entry in entries {
            tighten(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tightening_takes_every_group_and_other_bit_off_and_keeps_the_owners() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(nested.join("f"), b"x").unwrap();
        std::fs::set_permissions(nested.join("f"), Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&nested, Permissions::from_mode(0o777)).unwrap();
        tighten(dir.path()).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&nested.join("f")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(dir.path()) & SHARED_BITS, 0);
    }

    #[test]
    fn a_created_file_is_private_and_an_existing_one_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
        std::fs::write(&path, b"kept").unwrap();
        create_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }
}
