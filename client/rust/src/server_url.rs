//! Server addresses, canonicalised exactly as the TS client does, so both
//! clients store the same `serverUrl` for the same server.
use crate::error::{Error, Result};

/// A parsed server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Canonical form stored with the session, e.g. `http://127.0.0.1:50051`.
    pub url: String,
    pub tls: bool,
}

const LOOPBACK: [&str; 4] = ["localhost", "127.0.0.1", "::1", "[::1]"];

/// Accepts `https://host[:port]` (TLS, default port 443), `http://host:port`
/// (plaintext) or a bare `host:port` (plaintext on loopback, TLS elsewhere).
pub fn parse_server_url(input: &str) -> Result<ServerAddress> {
    let bad = || {
        Error::InvalidServerUrl(format!(
            "\"{input}\" is not a server address (expected https://host[:port], http://host:port or host:port)"
        ))
    };
    let trimmed = input.trim();
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => {
            let host = host_of(trimmed);
            (if LOOPBACK.contains(&host) { "http" } else { "https" }.to_string(), trimmed)
        }
    };
    if scheme != "http" && scheme != "https" {
        return Err(Error::InvalidServerUrl(format!("\"{input}\" must use http:// or https://")));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(bad());
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(Error::InvalidServerUrl(format!(
            "\"{input}\" must be a bare server address without a path, query or credentials"
        )));
    }
    let tls = scheme == "https";
    let host = host_of(rest);
    let port = &rest[host.len()..];
    let port = match port.strip_prefix(':') {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().map_err(|_| bad())?.to_string()
        }
        Some(_) => return Err(bad()),
        None if port.is_empty() => if tls { "443" } else { "80" }.to_string(),
        None => return Err(bad()),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let host = host.to_ascii_lowercase();
    Ok(ServerAddress {
        url: format!("{scheme}://{host}:{port}"),
        tls,
    })
}

fn host_of(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return match host_port.find(']') {
            Some(end) => &host_port[..=end],
            None => host_port,
        };
    }
    host_port.split(':').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_match_the_ts_client() {
        let ok = |s: &str| parse_server_url(s).unwrap().url;
        assert_eq!(ok("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(ok("localhost:7"), "http://localhost:7");
        assert_eq!(ok("airlock.example.com"), "https://airlock.example.com:443");
        assert_eq!(ok("https://Airlock.example.com/"), "https://airlock.example.com:443");
        assert_eq!(ok("http://[::1]:5"), "http://[::1]:5");
        assert!(parse_server_url("ftp://x").is_err());
        assert!(parse_server_url("https://x/path").is_err());
        assert!(parse_server_url("https://u:p@x").is_err());
        assert!(parse_server_url("http://x:99999").is_err());
    }
}
