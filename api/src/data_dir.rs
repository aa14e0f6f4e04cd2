//! The data dir is Flit's user's alone: contacts, message texts, the sealed bind passwords, the
//! API key in `bootstrap.json`, the admin token and the secret key are in it. A new data dir is
//! made 0700 and every file Flit writes there 0600, whatever the umask; the store makes its own
//! files private (flit-storage). At each start, [`secure`] looks at everything already there and
//! takes off the group and other bits it finds (the caller warns about each), or refuses to
//! start when it cannot (a file of another user). Symbolic links inside are not followed.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Group and other bits: none may be set on anything in the data dir.
const SHARED_BITS: u32 = 0o077;
const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// A path [`secure`] made private: it was readable, writable or searchable by others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    /// Its permission bits before (`0o644`, say); now without the group and other bits.
    pub was: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create the data dir {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot read {path} in the data dir: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is open to other users (mode {mode:03o}) and Flit cannot make it private \
         ({source}): it holds message texts, contacts and secrets. Give it to the user Flit \
         runs as and run `chmod -R go-rwx` on the data dir, or run Flit as its owner"
    )]
    Shared {
        path: PathBuf,
        mode: u32,
        source: io::Error,
    },
}

/// Creates the data dir (0700) or makes what is already in it private: the dir itself and
/// everything under it lose their group and other bits. Returns what it changed, for the
/// caller to warn about; a path it cannot change stops the start.
pub fn secure(dir: &Path) -> Result<Vec<Tightened>, DataDirError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| DataDirError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    let mut tightened = Vec::new();
    // The data dir itself may be a link (to a bigger disk, say): that one is followed.
    let metadata = std::fs::metadata(dir).map_err(|source| DataDirError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    tighten(dir, &metadata, &mut tightened)?;
    Ok(tightened)
}

fn tighten(
    path: &Path,
    metadata: &std::fs::Metadata,
    tightened: &mut Vec<Tightened>,
) -> Result<(), DataDirError> {
    let read_error = |source| DataDirError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & SHARED_BITS != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode & !SHARED_BITS)).map_err(
            |source| DataDirError::Shared {
                path: path.to_path_buf(),
                mode,
                source,
            },
        )?;
        tightened.push(Tightened {
            path: path.to_path_buf(),
            was: mode,
        });
    }
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let metadata = std::fs::symlink_metadata(entry.path()).map_err(read_error)?;
            if !metadata.file_type().is_symlink() {
                tighten(&entry.path(), &metadata, tightened)?;
            }
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`, a file only its owner can read, replacing what it held.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    // `mode` applies only when the file is created: tighten a file that already existed too.
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes `bytes` to `path`, a new file only its owner can read, all at once: a crash leaves
/// either no file or the whole of it (written beside it, then linked in), and the directory
/// entry is durable before this returns. Fails (`AlreadyExists`) rather than replace a file
/// already there.
pub fn create_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    // A partial file is what a crash left of an earlier attempt: never the key itself.
    write_private(&partial, bytes)?;
    let linked = std::fs::hard_link(&partial, path);
    std::fs::remove_file(&partial)?;
    linked?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_data_dir_is_its_owners_alone() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("flit-data");
        assert_eq!(secure(&dir).unwrap(), vec![]);
        assert_eq!(mode(&dir), DIR_MODE);
        write_private(&dir.join("a"), b"x").unwrap();
        create_private(&dir.join("b"), b"y").unwrap();
        assert_eq!(mode(&dir.join("a")), FILE_MODE);
        assert_eq!(mode(&dir.join("b")), FILE_MODE);
        let again = create_private(&dir.join("b"), b"z").unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"y");
        assert!(!dir.join("b.partial").exists());
    }

    #[test]
    fn a_shared_data_dir_is_made_private_and_every_change_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        std::fs::write(store.join("flit.redb"), b"data").unwrap();
        std::fs::write(dir.path().join("bootstrap.json"), b"{}").unwrap();
        set_mode(dir.path(), 0o755);
        set_mode(&store, 0o750);
        set_mode(&store.join("flit.redb"), 0o644);
        set_mode(&dir.path().join("bootstrap.json"), 0o600);
        // A link is neither followed nor changed.
        let outside = tempfile::tempdir().unwrap();
        set_mode(outside.path(), 0o755);
        std::os::unix::fs::symlink(outside.path(), dir.path().join("elsewhere")).unwrap();

        let mut changed = secure(dir.path()).unwrap();
        changed.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            changed,
            vec![
                Tightened {
                    path: dir.path().to_path_buf(),
                    was: 0o755
                },
                Tightened {
                    path: store.clone(),
                    was: 0o750
                },
                Tightened {
                    path: store.join("flit.redb"),
                    was: 0o644
                },
            ]
        );
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&store), 0o700);
        assert_eq!(mode(&store.join("flit.redb")), 0o600);
        assert_eq!(mode(outside.path()), 0o755);
        assert_eq!(
            secure(dir.path()).unwrap(),
            vec![],
            "nothing left to change"
        );
    }
}
