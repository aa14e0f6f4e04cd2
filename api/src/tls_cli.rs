//! `flit tls`: certificates for https on a LAN, where no public CA vouches for an address like
//! 192.168.1.20. `flit tls init` makes a local certificate authority and a server certificate
//! signed by it for the IP addresses and names the phones reach Flit by. A phone installs the
//! CA's certificate once (the SMS Gate app refuses plain http), and the server certificate can
//! then be replaced without touching the phones again.
//!
//! Keys are ECDSA P-256, which every Android version the app runs on accepts. The server
//! certificate lives under 825 days: the longest lifetime Apple's and Chrome's rules allow a
//! server certificate, so no client rejects it for living too long.

use std::fmt;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, Subcommand};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use tokio_rustls::rustls::pki_types::ServerName;

/// `flit tls …`.
#[derive(Debug, Args)]
pub struct TlsArgs {
    #[command(subcommand)]
    pub command: TlsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Create a local CA and a server certificate signed by it, for https on a LAN.
    Init(InitArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Directory to write the CA and the server certificate to (created if missing).
    #[arg(long, default_value = "flit-data/tls")]
    pub dir: PathBuf,
    /// An IP address or DNS name phones reach Flit by; repeat for several
    /// (`--host 192.168.1.20 --host flit.lan`).
    #[arg(long = "host", value_name = "IP|NAME", required = true)]
    pub hosts: Vec<Host>,
    /// Replace files that already exist; phones that trust the old CA must then install the
    /// new one.
    #[arg(long)]
    pub force: bool,
}

/// A name a server certificate is for: an IP address (an iPAddress subjectAltName, which is
/// what a client connecting to an address checks) or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Dns(String),
}

impl FromStr for Host {
    type Err = String;

    fn from_str(text: &str) -> Result<Host, String> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        match ServerName::try_from(text) {
            Ok(ServerName::DnsName(name)) => Ok(Host::Dns(name.as_ref().to_ascii_lowercase())),
            _ => Err(format!("`{text}` is neither an IP address nor a DNS name")),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => ip.fmt(f),
            Host::Dns(name) => f.write_str(name),
        }
    }
}

/// How long the CA is trusted: long enough that phones install it once.
pub const CA_VALIDITY: Duration = Duration::days(3650);

/// How long a server certificate is valid from its `not_before`: about two years and a
/// month, under the 825 days some clients allow at most.
pub const SERVER_VALIDITY: Duration = Duration::days(800);

/// How far `not_before` lies in the past, so a phone whose clock is a little behind still
/// accepts a certificate made a moment ago.
const BACKDATE: Duration = Duration::days(1);

/// Where `flit tls init` puts each file inside its directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA's certificate: what phones install.
    pub ca_cert: PathBuf,
    /// The CA's key: signs server certificates; never leaves this machine.
    pub ca_key: PathBuf,
    /// The server's certificate: `--tls-cert`.
    pub cert: PathBuf,
    /// The server's key: `--tls-key`.
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        }
    }

    fn all(&self) -> [&Path; 4] {
        [&self.ca_cert, &self.ca_key, &self.cert, &self.key]
    }
}

/// A CA and a server certificate it signed, as PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
    /// When the server certificate stops being valid.
    pub not_after: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsInitError {
    #[error("at least one --host is needed: the addresses and names phones reach Flit by")]
    NoHost,
    #[error(
        "{} already exist; pass --force to replace them (phones that trust the old CA must \
         then install the new one)",
        .0.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    Exists(Vec<PathBuf>),
    #[error("cannot generate the certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A new CA and a server certificate for `hosts` (the first also names it), both valid from
/// a day before `now`.
pub fn issue(hosts: &[Host], now: OffsetDateTime) -> Result<Issued, TlsInitError> {
    let first = hosts.first().ok_or(TlsInitError::NoHost)?;
    let not_before = now - BACKDATE;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    // Unique, so two CAs a phone holds (after an `init --force`, say) are never mistaken for
    // each other when it looks for a certificate's issuer by name.
    ca.distinguished_name = distinguished_name(&format!(
        "Flit local CA {:08x} ({first}, {})",
        rand::random::<u32>(),
        now.date()
    ));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_before + CA_VALIDITY;
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut server = CertificateParams::default();
    server.distinguished_name = distinguished_name(&first.to_string());
    server.subject_alt_names = hosts
        .iter()
        .map(|host| {
            Ok(match host {
                Host::Ip(ip) => SanType::IpAddress(*ip),
                Host::Dns(name) => SanType::DnsName(name.as_str().try_into()?),
            })
        })
        .collect::<Result<_, rcgen::Error>>()?;
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Lets a client find the issuer by key, as public CAs' certificates do.
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_before + SERVER_VALIDITY;
    let cert = server.signed_by(&key, &Issuer::new(ca, &ca_key))?;

    Ok(Issued {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
        not_after: server.not_after,
    })
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Flit");
    name.push(DnType::CommonName, common_name);
    name
}

/// `flit tls init`: issues a CA and a server certificate for `args.hosts` and writes them to
/// `args.dir` (a new one made 0700, every file 0600: the dir usually sits in the data dir,
/// which is private), refusing to replace any existing file without `args.force`.
pub fn init(args: &InitArgs) -> Result<(TlsFiles, Issued), TlsInitError> {
    if args.hosts.is_empty() {
        return Err(TlsInitError::NoHost);
    }
    let dir = std::path::absolute(&args.dir).map_err(|source| TlsInitError::Write {
        path: args.dir.clone(),
        source,
    })?;
    let files = TlsFiles::in_dir(&dir);
    if !args.force {
        let existing: Vec<PathBuf> = files
            .all()
            .into_iter()
            .filter(|path| path.exists())
            .map(Path::to_path_buf)
            .collect();
        if !existing.is_empty() {
            return Err(TlsInitError::Exists(existing));
        }
    }
    let issued = issue(&args.hosts, OffsetDateTime::now_utc())?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| TlsInitError::Write {
            path: dir.clone(),
            source,
        })?;
    for (path, text) in [
        (&files.ca_key, &issued.ca_key),
        (&files.ca_cert, &issued.ca_cert),
        (&files.key, &issued.key),
        (&files.cert, &issued.cert),
    ] {
        crate::data_dir::write_private(path, text.as_bytes()).map_err(|source| {
            TlsInitError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    Ok((files, issued))
}

/// Runs `flit tls …` and tells the operator what to do next.
pub fn run(args: TlsArgs) -> anyhow::Result<()> {
    match args.command {
        TlsCommand::Init(args) => {
            let (files, issued) = init(&args)?;
            print!("{}", next_steps(&args.hosts, &files, &issued));
            Ok(())
        }
    }
}

/// What `flit tls init` prints: the files, the command that serves https with them, and what
/// the phones need.
fn next_steps(hosts: &[Host], files: &TlsFiles, issued: &Issued) -> String {
    let names = hosts
        .iter()
        .map(Host::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let first = hosts.first().map(url_host).unwrap_or_default();
    let until = issued.not_after.date();
    let name = |path: &Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    format!(
        "Created a local CA and a server certificate for {names} in {dir}:\n\
         \x20 {ca_cert:<15} the CA certificate: install it on each phone\n\
         \x20 {ca_key:<15} the CA key (0600): keep it on this machine\n\
         \x20 {cert:<15} the server certificate, valid until {until}\n\
         \x20 {key:<15} the server key (0600)\n\
         \n\
         Serve https with:\n\
         \x20 flit serve --tls-cert {cert_arg} --tls-key {key_arg}\n\
         listening on an address the phones reach (--listen 0.0.0.0:8080, say: the default \
         127.0.0.1:8080 is this machine only).\n\
         \n\
         On each Android phone, install {ca_path} as a CA certificate (Settings > Security > \
         Encryption & credentials > Install a certificate > CA certificate), then give the SMS \
         Gate app (private server) https://{first}:8080/mobile/v1, with the port Flit listens on.\n",
        dir = files.ca_cert.parent().unwrap_or(Path::new("")).display(),
        ca_cert = name(&files.ca_cert),
        ca_key = name(&files.ca_key),
        cert = name(&files.cert),
        key = name(&files.key),
        cert_arg = shell_word(&files.cert),
        key_arg = shell_word(&files.key),
        ca_path = files.ca_cert.display(),
    )
}

/// A host as it goes in a URL: an IPv6 address in brackets.
fn url_host(host: &Host) -> String {
    match host {
        Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        host => host.to_string(),
    }
}

/// A path as one shell word: as it is when that is safe, else in single quotes.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_rustls::rustls;
    use tokio_rustls::rustls::client::WebPkiServerVerifier;
    use tokio_rustls::rustls::client::danger::ServerCertVerifier as _;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};

    use super::*;

    fn hosts(names: &[&str]) -> Vec<Host> {
        names
            .iter()
            .map(|name| name.parse().expect("a host"))
            .collect()
    }

    /// A verifier that trusts only `ca_pem`: the check a client of Flit makes.
    fn verifier(ca_pem: &str) -> Arc<WebPkiServerVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
            .expect("a CA");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("a verifier")
    }

    fn at(time: OffsetDateTime) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            time.unix_timestamp().try_into().expect("after 1970"),
        ))
    }

    #[test]
    fn the_server_certificate_has_the_requested_names_and_is_signed_by_the_ca() {
        let now = OffsetDateTime::now_utc();
        let issued = issue(&hosts(&["192.168.1.20", "flit.lan", "fd00::20"]), now).expect("issued");
        let cert = CertificateDer::from_pem_slice(issued.cert.as_bytes()).expect("cert PEM");
        let check = |verifier: &WebPkiServerVerifier, name: &str, time: OffsetDateTime| {
            let name = ServerName::try_from(name.to_string()).expect("a server name");
            verifier.verify_server_cert(&cert, &[], &name, &[], at(time))
        };

        let trusted = verifier(&issued.ca_cert);
        for name in ["192.168.1.20", "flit.lan", "fd00::20"] {
            check(&trusted, name, now).unwrap_or_else(|error| panic!("{name}: {error}"));
        }
        // An IP SAN for the address, not a DNS name that looks like one: the check for an IP
        // reads only iPAddress entries.
        for name in ["192.168.1.21", "other.lan", "127.0.0.1"] {
            assert!(
                check(&trusted, name, now).is_err(),
                "{name} is not in the certificate"
            );
        }
        assert!(
            check(&trusted, "flit.lan", now + Duration::days(790)).is_ok(),
            "about two years"
        );
        assert!(
            check(&trusted, "flit.lan", now - BACKDATE + Duration::days(825)).is_err(),
            "never longer than 825 days"
        );

        let other = issue(&hosts(&["192.168.1.20"]), now).expect("another CA");
        assert!(
            check(&verifier(&other.ca_cert), "192.168.1.20", now).is_err(),
            "another CA did not sign it"
        );
    }

    #[test]
    fn hosts_are_ip_addresses_or_dns_names() {
        assert_eq!(
            "192.168.1.20".parse::<Host>(),
            Ok(Host::Ip("192.168.1.20".parse().expect("ip")))
        );
        assert_eq!("Flit.LAN".parse::<Host>(), Ok(Host::Dns("flit.lan".into())));
        assert!("not a name".parse::<Host>().is_err());
        assert!("".parse::<Host>().is_err());
        assert!(matches!(
            issue(&[], OffsetDateTime::now_utc()),
            Err(TlsInitError::NoHost)
        ));
    }
}
