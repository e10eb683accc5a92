//! `GET /`: the talk page, compiled into the binary.

use axum::response::Html;

const INDEX: &str = include_str!("page/index.html");

pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}
