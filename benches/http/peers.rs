//! The peers (`bench-peers`) checked by hand before the load, like latchkey's routes: a
//! figure for a route that answers errors would mean nothing.

use anyhow::{ensure, Context};

/// Starts the actix-session peer's session and returns its cookie (`id=…`), after checking
/// that the read-only route answers 200 with it and 401 without, and that the bare peer
/// answers `user_info` as stored.
pub(crate) async fn check(base: &str, user_info: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let res = http.post(format!("{base}/session/login")).send().await?;
    ensure!(
        res.status() == 200,
        "the actix-session peer's login answered {}",
        res.status()
    );
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .context("the actix-session peer set no cookie")?
        .to_str()?;
    let cookie = set_cookie
        .split(';')
        .next()
        .context("an empty Set-Cookie")?
        .to_owned();
    let me = format!("{base}/session/me");
    let status = http.get(&me).send().await?.status();
    ensure!(
        status == 401,
        "the actix-session peer without a cookie answered {status}"
    );
    let res = http.get(&me).header("Cookie", &cookie).send().await?;
    ensure!(
        res.status() == 200,
        "the actix-session peer with its cookie answered {}",
        res.status()
    );
    let body: serde_json::Value = res.json().await?;
    ensure!(
        body["user_id"].is_string() && body["profile"]["plan"] == "free",
        "the actix-session peer answered {body}"
    );
    let res = http.get(format!("{base}/bare")).send().await?;
    ensure!(
        res.status() == 200,
        "the bare peer answered {}",
        res.status()
    );
    ensure!(
        res.text().await? == user_info,
        "the bare peer did not answer the stored document"
    );
    Ok(cookie)
}
