//! The server's resident memory, read from `/proc/<pid>/status` (`VmRSS`): the server must run
//! on this machine, which a benchmark's server does.

use anyhow::Context as _;

/// `VmRSS` of process `pid`, in bytes.
pub fn resident_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    vm_rss(&status).with_context(|| format!("no VmRSS line in {path}"))
}

/// The `VmRSS:   12345 kB` line of a `/proc/<pid>/status` text, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        Some("kB") => 1024,
        Some("mB") => 1024 * 1024,
        Some(_) => return None,
        None => 1,
    };
    Some(value * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_in_kibibytes() {
        let status = "Name:\tflit\nVmPeak:\t  900000 kB\nVmHWM:\t  210000 kB\nVmRSS:\t  204800 kB\nThreads:\t9\n";
        assert_eq!(vm_rss(status), Some(204_800 * 1024));
        assert_eq!(vm_rss("Name:\tflit\n"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(resident_bytes(std::process::id()).is_ok_and(|bytes| bytes > 0));
    }
}
