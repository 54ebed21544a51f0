//! The native baseline of `bench/service-requests.sh`: N authenticated GETs to one URL over one
//! kept-alive connection, the way a plain Rust program would make them (reqwest on a
//! current-thread runtime, no proxy). It prints nothing on success; a failed request or a
//! non-2xx status ends it with exit code 1.
//!
//! ```sh
//! cargo run --release -p lmi --example native_requests -- http://127.0.0.1:PORT/api/v1/items 200 TOKEN
//! ```
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, count, token] = args.as_slice() else {
        eprintln!("usage: native_requests URL COUNT TOKEN");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u32>() else {
        eprintln!("native_requests: COUNT must be a number");
        return ExitCode::from(2);
    };
    match run(url, count, token) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("native_requests: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, count: u32, token: &str) -> Result<(), Box<dyn std::error::Error>> {
    let io = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    io.block_on(async {
        for _ in 0..count {
            let reply = client.get(url).bearer_auth(token).send().await?;
            let status = reply.status();
            reply.bytes().await?;
            if !status.is_success() {
                return Err(format!("HTTP {status}").into());
            }
        }
        Ok(())
    })
}
