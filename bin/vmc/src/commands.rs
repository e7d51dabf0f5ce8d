//! What each vmc command does and prints. Listings print a table, or JSON with `--json`;
//! errors are returned to `main`, which prints them as one line and exits non-zero.

use crate::cli::{Command, Output, PushArgs};
use crate::client::{normalize_target, Client};
use crate::config::{ConfigStore, Login};
use crate::error::Error;
use crate::push::{self, Feedback, PushOptions};
use crate::services;
use crate::types::{App, AppUpdate, NewResources};
use serde::Serialize;
use std::io::BufRead;
use std::io::Write;
use std::time::Duration;

/// `println!` that ignores a closed stdout (`vmc apps | head`).
macro_rules! out {
    () => {{
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// Runs one command against the target saved in `store`.
pub async fn run(command: Command, store: &ConfigStore) -> Result<(), Error> {
    match command {
        Command::Target { url } => target(store, url).await,
        Command::Login { email, password } => login(store, email, password).await,
        Command::Logout => logout(store),
        Command::Register { email, password } => {
            let client = client(store, false)?;
            client.create_user(&email, &password).await?;
            out!("Created user {email}");
            Ok(())
        }
        Command::Info(output) => info(store, output).await,
        Command::Push(args) => push_app(store, args).await,
        Command::Apps(output) => apps(store, output).await,
        Command::Start { app, timeout } => {
            let client = client(store, true)?;
            push::start(
                &client,
                &app,
                Duration::from_secs(timeout),
                Feedback::Terminal,
            )
            .await
        }
        Command::Stop { app } => push::stop(&client(store, true)?, &app, Feedback::Terminal).await,
        Command::Restart { app, timeout } => {
            let client = client(store, true)?;
            restart(&client, &app, Duration::from_secs(timeout)).await
        }
        Command::Delete { app } => {
            client(store, true)?.delete_app(&app).await?;
            out!("Deleted {app}");
            Ok(())
        }
        Command::Instances { app, count, output } => {
            let client = client(store, true)?;
            match count {
                None => instances(&client, &app, output).await,
                Some(count) => scale(&client, &app, count).await,
            }
        }
        Command::Mem { app, memory } => mem(&client(store, true)?, &app, memory).await,
        Command::Map { app, url } => map(&client(store, true)?, &app, &url, true).await,
        Command::Unmap { app, url } => map(&client(store, true)?, &app, &url, false).await,
        Command::Env { app, output } => env(&client(store, true)?, &app, output).await,
        Command::EnvAdd {
            app,
            variable,
            value,
        } => {
            let pair = match value {
                Some(value) => format!("{variable}={value}"),
                None => variable,
            };
            env_add(&client(store, true)?, &app, &pair).await
        }
        Command::EnvDel { app, name } => env_del(&client(store, true)?, &app, &name).await,
        Command::Stats { app, output } => stats(&client(store, true)?, &app, output).await,
        Command::Crashes { app, output } => crashes(&client(store, true)?, &app, output).await,
        Command::Files {
            app,
            path,
            instance,
        } => {
            let client = client(store, true)?;
            let text = client
                .files(&app, &instance, path.as_deref().unwrap_or(""))
                .await?;
            out_raw!("{text}");
            Ok(())
        }
        Command::Logs { app, instance } => logs(&client(store, true)?, &app, &instance).await,
        Command::Services(output) => services::list(&client(store, true)?, output).await,
        Command::CreateService {
            service,
            name,
            app,
            name_flag,
            bind,
        } => {
            let client = client(store, true)?;
            let name = name.or(name_flag);
            services::create(&client, &service, name, app.or(bind).as_deref()).await
        }
        Command::DeleteService { name } => services::delete(&client(store, true)?, &name).await,
        Command::BindService { name, app } => {
            services::bind(&client(store, true)?, &name, &app).await
        }
        Command::UnbindService { name, app } => {
            services::unbind(&client(store, true)?, &name, &app).await
        }
    }
}

/// A client of the saved target, with its token (required when `login` is set).
pub fn client(store: &ConfigStore, login: bool) -> Result<Client, Error> {
    let saved = store.load()?;
    let target = saved.target.clone().ok_or(Error::NoTarget)?;
    let token = saved.login().map(|l| l.token.clone());
    if login && token.is_none() {
        return Err(Error::NotLoggedIn(target));
    }
    Ok(Client::new(&target, token))
}

pub(crate) fn print_json(value: &impl Serialize) {
    out!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON output encodes")
    );
}

/// Prints rows as left-aligned columns under a header.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

async fn target(store: &ConfigStore, url: Option<String>) -> Result<(), Error> {
    let Some(url) = url else {
        match store.load()?.target {
            Some(t) => out!("[{t}]"),
            None => out!("No target set"),
        }
        return Ok(());
    };
    let url = normalize_target(&url);
    Client::new(&url, None).info().await?;
    store.update(|s| s.target = Some(url.clone()))?;
    out!("Successfully targeted to [{url}]");
    Ok(())
}

fn prompt(label: &str) -> Result<String, Error> {
    eprint!("{label}: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("read {label}: {e}")))?;
    Ok(line.trim().to_owned())
}

async fn login(
    store: &ConfigStore,
    email: Option<String>,
    password: Option<String>,
) -> Result<(), Error> {
    let mut client = client(store, false)?;
    let email = match email {
        Some(e) => e,
        None => prompt("Email")?,
    };
    let password = match password {
        Some(p) => p,
        None => prompt("Password")?,
    };
    let token = client.login(&email, &password).await?;
    let target = client.target().to_owned();
    store.update(|s| {
        s.tokens.insert(target.clone(), Login { email, token });
    })?;
    out!("Successfully logged into [{target}]");
    Ok(())
}

fn logout(store: &ConfigStore) -> Result<(), Error> {
    store.update(|s| {
        if let Some(t) = s.target.clone() {
            s.tokens.remove(&t);
        }
    })?;
    out!("Successfully logged out");
    Ok(())
}

async fn info(store: &ConfigStore, output: Output) -> Result<(), Error> {
    let info = client(store, false)?.info().await?;
    if output.json {
        print_json(&info);
        return Ok(());
    }
    out!("{}", info.description);
    out!("For support visit {}", info.support);
    out!();
    let version = match &info.version {
        serde_json::Value::String(v) => v.clone(),
        other => other.to_string(),
    };
    let target = store.load()?.target.unwrap_or_default();
    out!("Target:   {target} (v{version})");
    match &info.user {
        Some(user) => out!("User:     {user}"),
        None => out!("User:     (not logged in)"),
    }
    if let (Some(limits), Some(usage)) = (&info.limits, &info.usage) {
        out!(
            "Usage:    Memory   ({}M of {}M total)",
            usage["memory"],
            limits["memory"]
        );
        out!(
            "          Apps     ({} of {} total)",
            usage["apps"],
            limits["apps"]
        );
    }
    Ok(())
}

/// The `http://` URL of an app reached through the target's router port.
fn app_link(client: &Client, uri: &str) -> String {
    let port = client
        .target()
        .split("://")
        .last()
        .and_then(|hostport| hostport.split('/').next())
        .and_then(|hostport| hostport.rsplit_once(':'))
        .map(|(_, port)| format!(":{port}"))
        .unwrap_or_default();
    format!("http://{uri}{port}")
}

async fn push_app(store: &ConfigStore, args: PushArgs) -> Result<(), Error> {
    let client = client(store, true)?;
    let name = match args.name.clone() {
        Some(n) => n,
        None => push::name_from_path(&args.path).ok_or_else(|| {
            Error::Usage(format!("cannot name an app after {}", args.path.display()))
        })?,
    };
    let opts = PushOptions {
        name,
        path: args.path,
        url: args.url,
        instances: args.instances,
        mem: args.mem,
        runtime: args.runtime,
        framework: args.framework,
        no_start: args.no_start,
        timeout: Duration::from_secs(args.timeout),
    };
    let url = push::push(&client, &opts, Feedback::Terminal).await?;
    out!("{}", app_link(&client, &url));
    Ok(())
}

async fn apps(store: &ConfigStore, output: Output) -> Result<(), Error> {
    let apps = client(store, true)?.apps().await?;
    if output.json {
        print_json(&apps);
        return Ok(());
    }
    if apps.is_empty() {
        out!("No Applications");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                format!("{}/{}", a.running_instances, a.instances),
                a.state.clone(),
                format!("{}M", a.resources.memory),
                a.uris.join(", "),
            ]
        })
        .collect();
    print_table(&["Application", "#", "Health", "Mem", "URLS"], &rows);
    Ok(())
}

async fn restart(client: &Client, app: &str, timeout: Duration) -> Result<(), Error> {
    push::stop(client, app, Feedback::Terminal).await?;
    push::start(client, app, timeout, Feedback::Terminal).await
}

/// After a change the CC applies by restarting a started app (env, memory), watches the
/// new instances come up.
pub(crate) async fn watch_if_started(client: &Client, app: &App, since: f64) -> Result<(), Error> {
    if app.state == "STARTED" {
        push::watch(
            client,
            &app.name,
            since,
            Duration::from_secs(30),
            Feedback::Terminal,
        )
        .await?;
    }
    Ok(())
}

async fn instances(client: &Client, app: &str, output: Output) -> Result<(), Error> {
    let instances = client.instances(app).await?;
    if output.json {
        print_json(&instances);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = instances
        .instances
        .iter()
        .map(|i| {
            vec![
                i.index.to_string(),
                i.state.clone(),
                format!("{:.0}", i.since),
            ]
        })
        .collect();
    print_table(&["Index", "State", "Since"], &rows);
    Ok(())
}

async fn scale(client: &Client, app: &str, count: crate::cli::InstanceCount) -> Result<(), Error> {
    let current = client.app(app).await?;
    let wanted = count.apply(current.instances).map_err(Error::Usage)?;
    let update = AppUpdate {
        instances: Some(wanted),
        ..Default::default()
    };
    client.update_app(app, &update).await?;
    out!(
        "Scaled {app} from {} to {wanted} instances",
        current.instances
    );
    Ok(())
}

async fn mem(client: &Client, app: &str, memory: Option<u64>) -> Result<(), Error> {
    let current = client.app(app).await?;
    let Some(memory) = memory else {
        out!("{}M", current.resources.memory);
        return Ok(());
    };
    let update = AppUpdate {
        resources: Some(NewResources { memory }),
        ..Default::default()
    };
    let since = push::now_epoch();
    client.update_app(app, &update).await?;
    out!("Updated memory of {app} to {memory}M");
    watch_if_started(client, &current, since).await
}

async fn map(client: &Client, app: &str, url: &str, add: bool) -> Result<(), Error> {
    let current = client.app(app).await?;
    let url = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    let mut uris = current.uris.clone();
    if add {
        if !uris.contains(&url) {
            uris.push(url.clone());
        }
    } else if !uris.contains(&url) {
        return Err(Error::Usage(format!(
            "Invalid url {url}: not mapped to {app}"
        )));
    } else {
        uris.retain(|u| *u != url);
    }
    let update = AppUpdate {
        uris: Some(uris),
        ..Default::default()
    };
    client.update_app(app, &update).await?;
    out!("{} {url}", if add { "Mapped" } else { "Unmapped" });
    Ok(())
}

async fn env(client: &Client, app: &str, output: Output) -> Result<(), Error> {
    let app = client.app(app).await?;
    if output.json {
        print_json(&app.env);
        return Ok(());
    }
    if app.env.is_empty() {
        out!("No Environment Variables");
    }
    let rows: Vec<Vec<String>> = app
        .env
        .iter()
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            vec![k.to_owned(), v.to_owned()]
        })
        .collect();
    if !rows.is_empty() {
        print_table(&["Variable", "Value"], &rows);
    }
    Ok(())
}

/// The env list with `pair` (`K=V`) set, replacing an earlier value of `K`.
pub fn env_with(env: &[String], pair: &str) -> Result<Vec<String>, Error> {
    let (key, _) = pair
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "Environment variable must be NAME=VALUE, got {pair:?}"
            ))
        })?;
    let mut out = env_without(env, key);
    out.push(pair.to_owned());
    Ok(out)
}

/// The env list without `key`.
pub fn env_without(env: &[String], key: &str) -> Vec<String> {
    env.iter()
        .filter(|e| e.split_once('=').map(|(k, _)| k) != Some(key) && e.as_str() != key)
        .cloned()
        .collect()
}

async fn set_env(client: &Client, app: &App, env: Vec<String>) -> Result<(), Error> {
    let update = AppUpdate {
        env: Some(env),
        ..Default::default()
    };
    let since = push::now_epoch();
    client.update_app(&app.name, &update).await?;
    watch_if_started(client, app, since).await
}

async fn env_add(client: &Client, app: &str, pair: &str) -> Result<(), Error> {
    let current = client.app(app).await?;
    let env = env_with(&current.env, pair)?;
    out!("Adding Environment Variable [{pair}]");
    set_env(client, &current, env).await
}

async fn env_del(client: &Client, app: &str, key: &str) -> Result<(), Error> {
    let current = client.app(app).await?;
    let env = env_without(&current.env, key);
    out!("Deleting Environment Variable [{key}]");
    set_env(client, &current, env).await
}

fn human_kb(kb: f64) -> String {
    if kb >= 1024.0 * 1024.0 {
        format!("{:.1}G", kb / 1024.0 / 1024.0)
    } else if kb >= 1024.0 {
        format!("{:.1}M", kb / 1024.0)
    } else {
        format!("{kb:.0}K")
    }
}

async fn stats(client: &Client, app: &str, output: Output) -> Result<(), Error> {
    let stats = client.stats(app).await?;
    if output.json {
        print_json(&stats);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|(index, s)| match &s.stats {
            Some(st) => vec![
                index.clone(),
                format!("{:.1}% ({})", st.usage.cpu, st.cores),
                format!(
                    "{} ({}M)",
                    human_kb(st.usage.mem),
                    st.mem_quota / 1024 / 1024
                ),
                human_kb(st.usage.disk),
                format!("{:.0}s", st.uptime),
            ],
            None => vec![
                index.clone(),
                s.state.clone(),
                String::new(),
                String::new(),
                String::new(),
            ],
        })
        .collect();
    print_table(
        &[
            "Instance",
            "CPU (Cores)",
            "Memory (limit)",
            "Disk",
            "Uptime",
        ],
        &rows,
    );
    Ok(())
}

async fn crashes(client: &Client, app: &str, output: Output) -> Result<(), Error> {
    let crashes = client.crashes(app).await?;
    if output.json {
        print_json(&crashes);
        return Ok(());
    }
    if crashes.crashes.is_empty() {
        out!("No crashed instances for [{app}]");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = crashes
        .crashes
        .iter()
        .map(|c| vec![c.instance.clone(), format!("{:.0}", c.since)])
        .collect();
    print_table(&["Instance", "Crashed at"], &rows);
    Ok(())
}

async fn logs(client: &Client, app: &str, instance: &str) -> Result<(), Error> {
    for file in ["logs/stderr.log", "logs/stdout.log"] {
        let text = client.files(app, instance, file).await?;
        out!("==== {file} ====");
        out_raw!("{text}");
        if !text.ends_with('\n') && !text.is_empty() {
            out!();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_add_replaces_and_env_del_removes() {
        let env = vec!["A=1".to_owned(), "B=2".to_owned()];
        assert_eq!(env_with(&env, "A=3").unwrap(), vec!["B=2", "A=3"]);
        assert_eq!(
            env_with(&env, "C=x=y").unwrap(),
            vec!["A=1", "B=2", "C=x=y"]
        );
        assert!(env_with(&env, "novalue").is_err());
        assert!(env_with(&env, "=v").is_err());
        assert_eq!(env_without(&env, "A"), vec!["B=2"]);
        assert_eq!(env_without(&env, "Z"), env);
    }

    #[test]
    fn commands_need_a_target_and_a_login() {
        let dir = std::env::temp_dir().join(format!("vmc-cmd-{}", std::process::id()));
        let store = ConfigStore::in_dir(&dir);
        assert!(matches!(client(&store, false), Err(Error::NoTarget)));
        store
            .update(|s| s.target = Some("http://api.localhost:9".into()))
            .unwrap();
        assert!(client(&store, false).is_ok());
        assert!(matches!(client(&store, true), Err(Error::NotLoggedIn(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn app_links_carry_the_router_port() {
        let c = Client::new("http://api.localhost:8081", None);
        assert_eq!(
            app_link(&c, "hello.localhost"),
            "http://hello.localhost:8081"
        );
        let c = Client::new("http://api.vcap.me", None);
        assert_eq!(app_link(&c, "hello.vcap.me"), "http://hello.vcap.me");
    }
}
