//! `[api]`: where the local API listens and its limits.

use std::path::PathBuf;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::config::{checked, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// The unix socket (mode 0660, no token); empty = none.
    pub socket: PathBuf,
    /// `host:port` of a TCP listener for the LAN (token required); empty = none.
    pub listen: String,
    /// Environment variable holding the TCP listener's token (checked first).
    pub token_env: String,
    /// File holding the token (one line), used when the variable is unset.
    pub token_file: PathBuf,
    /// PEM certificate for the TCP listener: set with `tls_key` to serve it as HTTPS
    /// (browsers give the talk page the microphone only over HTTPS, or on localhost).
    pub tls_cert: PathBuf,
    /// PKCS#8 PEM key of `tls_cert`.
    pub tls_key: PathBuf,
    /// Clients connected at once (HTTP and WebSocket together); more are refused with 503.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 1024>")]
    pub max_clients: u32,
    /// The largest request body or WebSocket message, in bytes.
    #[serde(deserialize_with = "checked::u32_in::<_, 1024, 16_777_216>")]
    pub max_frame_bytes: u32,
    /// Refused: tokens never live in the config in clear text.
    #[serde(skip_serializing)]
    pub token: Option<IgnoredAny>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            socket: PathBuf::from("/run/hearken/api.sock"),
            listen: String::new(),
            token_env: "HEARKEN_API_TOKEN".into(),
            token_file: PathBuf::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            max_clients: 16,
            max_frame_bytes: 65_536,
            token: None,
        }
    }
}

impl ApiConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.token.is_some() {
            return Err((
                "api.token",
                format!(
                    "tokens are not read from the config file; put it in ${} or in a file named by api.token_file",
                    self.token_env
                ),
            ));
        }
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "api.listen",
                format!(
                    "\"{}\" is not an address and port such as \"0.0.0.0:8765\"",
                    self.listen
                ),
            ));
        }
        let (cert, key) = (
            self.tls_cert.as_os_str().is_empty(),
            self.tls_key.as_os_str().is_empty(),
        );
        if cert != key {
            let (set, missing) = if cert {
                ("api.tls_key", "api.tls_cert")
            } else {
                ("api.tls_cert", "api.tls_key")
            };
            return Err((missing, format!("{set} is set, so {missing} is needed too")));
        }
        if !cert && self.listen.is_empty() {
            return Err((
                "api.tls_cert",
                "TLS is for the TCP listener, and api.listen is empty".into(),
            ));
        }
        Ok(())
    }

    /// The TCP listener's token from the environment or the token file; empty when
    /// neither is set.
    pub fn token(&self) -> std::io::Result<Secret> {
        Secret::from_env_or_file(&self.token_env, &self.token_file)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("t.toml"))
            .map(|l| l.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_token_in_clear_text_is_refused() {
        let err = parse("[api]\ntoken = \"abc\"\n").unwrap_err();
        assert!(
            err.contains("api.token") && err.contains("HEARKEN_API_TOKEN"),
            "{err}"
        );
        assert!(!err.contains("abc"), "{err}");
    }

    #[test]
    fn listen_must_be_an_address_and_port() {
        let err = parse("[api]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(
            err.contains("api.listen") && err.contains("localhost"),
            "{err}"
        );
        assert_eq!(
            parse("[api]\nlisten = \"0.0.0.0:8765\"\n")
                .unwrap()
                .api
                .listen,
            "0.0.0.0:8765"
        );
    }

    #[test]
    fn the_socket_is_on_by_default_and_tcp_off() {
        let config = parse("").unwrap();
        assert_eq!(config.api.socket, Path::new("/run/hearken/api.sock"));
        assert!(config.api.listen.is_empty());
    }

    #[test]
    fn tls_needs_both_files_and_the_tcp_listener() {
        let err = parse("[api]\nlisten = \"0.0.0.0:8765\"\ntls_cert = \"c.pem\"\n").unwrap_err();
        assert!(err.contains("api.tls_key"), "{err}");
        let err = parse("[api]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n").unwrap_err();
        assert!(
            err.contains("api.tls_cert") && err.contains("api.listen"),
            "{err}"
        );
        let ok =
            parse("[api]\nlisten = \"0.0.0.0:8765\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n");
        assert_eq!(ok.unwrap().api.tls_key, Path::new("k.pem"));
    }

    #[test]
    fn limits_are_checked() {
        let err = parse("[api]\nmax_clients = 0\n").unwrap_err();
        assert!(err.contains("max_clients"), "{err}");
        let err = parse("[api]\nmax_frame_bytes = 10\n").unwrap_err();
        assert!(err.contains("max_frame_bytes"), "{err}");
    }
}
