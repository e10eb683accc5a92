//! Why the API cannot start, and the JSON errors its clients get.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("api.listen = \"{listen}\" needs a token: set ${env} or api.token_file (the TCP listener is never open without one)")]
    NoToken { listen: String, env: String },
    #[error("api.token_file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("api.socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} {path}: {source}")]
    TlsFile {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("api.tls_cert {cert} with api.tls_key {key}: {message} (a PEM certificate and its PKCS#8 PEM key are needed)")]
    Tls {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("api.listen {listen}: {source}")]
    Listen {
        listen: String,
        source: std::io::Error,
    },
}

/// A request refused: an HTTP status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<axum::extract::rejection::JsonRejection> for Refusal {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection::*;
        let code = match &rejection {
            JsonSyntaxError(_) => "malformed_json",
            JsonDataError(_) => "invalid_request",
            MissingJsonContentType(_) => "not_json",
            BytesRejection(_) => "body_too_large",
            _ => "invalid_request",
        };
        let status = match code {
            "body_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "not_json" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Refusal::new(status, code, rejection.body_text())
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
    )
}
