use lmi_plugin_sdk::{Context, PluginError};
use std::io::Write;

fn run(ctx: &dyn Context, _command: &str, args: &[String]) -> Result<u8, PluginError> {
    let who = args.first().map_or("world", String::as_str);
    writeln!(ctx.stdout(), "Hello, {who}!")?;
    Ok(0)
}

lmi_plugin_sdk::export!(fn run);
