//! AIPerf-compatible URL handling: `localhost:8000` means `http://localhost:8000`, and the
//! endpoint path is appended with a doubled `/v1` collapsed.

use std::net::{SocketAddr, ToSocketAddrs};

/// Where requests go: the resolved socket addresses plus what the request line and `Host`
/// header need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as the user will see it in messages, e.g. `http://localhost:8000/v1/embeddings`.
    pub url: String,
    /// `host[:port]` as sent in the `Host` header.
    pub authority: String,
    pub host: String,
    pub port: u16,
    /// Request target, e.g. `/v1/embeddings`.
    pub path: String,
}

impl Endpoint {
    /// Parses `url` (scheme optional) and joins `endpoint_path` onto it.
    pub fn parse(url: &str, endpoint_path: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("--url is empty".into());
        }
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!("--url {url}: https is not supported (embperf speaks plain HTTP/1.1; put a TLS terminator in front or use http://)"))
            }
            Some((scheme, _)) => return Err(format!("--url {url}: unsupported scheme '{scheme}' (use http://)")),
            None => url,
        };
        let (authority, base_path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority).map_err(|e| format!("--url {url}: {e}"))?;
        let path = join_path(base_path, endpoint_path);
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{host}:{port}")
        };
        Ok(Endpoint {
            url: format!("http://{authority}{path}"),
            authority,
            host,
            port,
            path,
        })
    }

    /// Resolves the host once, before the run; connections then use a `SocketAddr`.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = (host, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("cannot resolve {}: no addresses", self.host));
        }
        Ok(addrs)
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    if authority.is_empty() {
        return Err("no host".into());
    }
    if let Some(stripped) = authority.strip_prefix('[') {
        let end = stripped.find(']').ok_or("unclosed '[' in IPv6 host")?;
        let host = format!("[{}]", &stripped[..end]);
        let port = match &stripped[end + 1..] {
            "" => 80,
            p => parse_port(p.strip_prefix(':').ok_or("junk after IPv6 host")?)?,
        };
        return Ok((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Ok((host.to_string(), parse_port(port)?)),
        Some(_) => Err("no host".into()),
        None => Ok((authority.to_string(), 80)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("bad port '{p}'"))
}

/// Joins the URL's path and the endpoint path, collapsing a doubled `/v1`
/// (`http://h/v1` + `/v1/embeddings` → `/v1/embeddings`), as AIPerf does.
fn join_path(base: &str, endpoint: &str) -> String {
    let base = base.trim_end_matches('/');
    let endpoint = endpoint.trim_start_matches('/');
    let endpoint = if base.ends_with("/v1") {
        endpoint.strip_prefix("v1/").unwrap_or(endpoint)
    } else {
        endpoint
    };
    if endpoint.is_empty() {
        if base.is_empty() {
            "/".to_string()
        } else {
            base.to_string()
        }
    } else {
        format!("{base}/{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_scheme_and_endpoint() {
        let e = Endpoint::parse("localhost:8000", "/v1/embeddings").unwrap();
        assert_eq!(e.url, "http://localhost:8000/v1/embeddings");
        assert_eq!(e.authority, "localhost:8000");
        assert_eq!(e.path, "/v1/embeddings");
    }

    #[test]
    fn collapses_double_v1() {
        let e = Endpoint::parse("http://h:1/v1", "/v1/embeddings").unwrap();
        assert_eq!(e.path, "/v1/embeddings");
        let e = Endpoint::parse("http://h:1/v1/", "v1/embeddings").unwrap();
        assert_eq!(e.path, "/v1/embeddings");
        let e = Endpoint::parse("http://h:1/api", "/v1/embeddings").unwrap();
        assert_eq!(e.path, "/api/v1/embeddings");
    }

    #[test]
    fn default_port_and_ipv6() {
        let e = Endpoint::parse("http://example", "/e").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.authority.as_str()),
            ("example", 80, "example:80")
        );
        let e = Endpoint::parse("[::1]:9000", "/e").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("[::1]", 9000));
        assert_eq!(e.resolve().unwrap()[0].port(), 9000);
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(Endpoint::parse("https://h", "/e")
            .unwrap_err()
            .contains("https"));
        assert!(Endpoint::parse("ftp://h", "/e").is_err());
        assert!(Endpoint::parse("h:notaport", "/e")
            .unwrap_err()
            .contains("bad port"));
        assert!(Endpoint::parse("", "/e").is_err());
        assert!(Endpoint::parse(":80", "/e").is_err());
    }
}
