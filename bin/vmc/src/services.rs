//! vmc's service commands (vmc v1 `commands/services.rb`, `services_helper.rb`): `services`
//! (the system services from `/info/services`, then the provisioned ones; `--json` prints
//! `{system, provisioned}`), `create-service <service> [name] [app]` (a random
//! `<service>-<4 hex>` name unless given, then a bind when an app is named),
//! `delete-service`, `bind-service` and `unbind-service`. Each change shows vmc's
//! `Creating Service [name]: OK` style line on stderr (create-service also prints the new
//! name on stdout, for scripts); a bind or unbind of a started app then watches the restart
//! the cloud controller does.

use crate::client::Client;
use crate::commands::{print_json, print_table, watch_if_started};
use crate::error::Error;
use crate::push::{self, Feedback};
use crate::types::{ProvisionedService, ServiceCatalogue};
use serde::Serialize;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;

/// `println!` that ignores a closed stdout.
fn say(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// `--json` of `vmc services`.
#[derive(Debug, Serialize)]
struct ServicesJson<'a> {
    system: &'a ServiceCatalogue,
    provisioned: &'a [ProvisionedService],
}

/// `vmc services`.
pub async fn list(client: &Client, output: crate::cli::Output) -> Result<(), Error> {
    let system = client.services_info().await?;
    let mut provisioned = client.services().await?;
    provisioned.sort_by(|a, b| a.name.cmp(&b.name));
    if output.json {
        print_json(&ServicesJson {
            system: &system,
            provisioned: &provisioned,
        });
        return Ok(());
    }
    say("\n============== System Services ==============\n");
    let rows = system_rows(&system);
    if rows.is_empty() {
        say("No system services available");
    } else {
        print_table(&["Service", "Version", "Description"], &rows);
    }
    say("\n=========== Provisioned Services ============\n");
    let rows: Vec<Vec<String>> = provisioned
        .iter()
        .map(|s| vec![s.name.clone(), s.vendor.clone()])
        .collect();
    if !rows.is_empty() {
        print_table(&["Name", "Service"], &rows);
    }
    Ok(())
}

/// One row per offering: vendor, version, description; sorted by vendor.
pub fn system_rows(catalogue: &ServiceCatalogue) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = catalogue
        .values()
        .flat_map(|vendors| vendors.iter())
        .flat_map(|(vendor, versions)| {
            versions.iter().map(move |(version, offering)| {
                vec![
                    vendor.clone(),
                    version.clone(),
                    offering.description.clone(),
                ]
            })
        })
        .collect();
    rows.sort();
    rows
}

/// vmc's `random_service_name`: `<service>-<4 hex>`.
pub fn random_service_name(service: &str) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(push::now_epoch().to_bits().into());
    format!("{service}-{:04x}", hasher.finish() & 0xffff)
}

/// `vmc create-service <service> [name] [app]`.
pub async fn create(
    client: &Client,
    service: &str,
    name: Option<String>,
    app: Option<&str>,
) -> Result<(), Error> {
    let (name, picked) = match name {
        Some(n) => (n, false),
        None => (random_service_name(service), true),
    };
    let shown = if picked {
        format!(" [{name}]")
    } else {
        String::new()
    };
    Feedback::Terminal.show(&format!("Creating Service{shown}: "));
    client.create_service(service, &name).await?;
    Feedback::Terminal.show("OK\n");
    say(&name);
    match app {
        Some(app) => bind(client, &name, app).await,
        None => Ok(()),
    }
}

/// `vmc delete-service <name>`.
pub async fn delete(client: &Client, name: &str) -> Result<(), Error> {
    Feedback::Terminal.show(&format!("Deleting service [{name}]: "));
    client.delete_service(name).await?;
    Feedback::Terminal.show("OK\n");
    Ok(())
}

/// `vmc bind-service <name> <app>`, then the restart of a started app is watched.
pub async fn bind(client: &Client, name: &str, app: &str) -> Result<(), Error> {
    let before = client.app(app).await?;
    let since = push::now_epoch();
    Feedback::Terminal.show(&format!("Binding Service [{name}]: "));
    client.bind_service(name, app).await?;
    Feedback::Terminal.show("OK\n");
    watch_if_started(client, &before, since).await
}

/// `vmc unbind-service <name> <app>`, then the restart of a started app is watched.
pub async fn unbind(client: &Client, name: &str, app: &str) -> Result<(), Error> {
    let before = client.app(app).await?;
    let since = push::now_epoch();
    Feedback::Terminal.show(&format!("Unbinding Service [{name}]: "));
    client.unbind_service(name, app).await?;
    Feedback::Terminal.show("OK\n");
    watch_if_started(client, &before, since).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_the_service_and_four_hex_digits() {
        let name = random_service_name("mysql");
        let (service, hex) = name.split_once('-').unwrap();
        assert_eq!(service, "mysql");
        assert_eq!(hex.len(), 4);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    }

    #[test]
    fn system_services_are_listed_by_vendor() {
        let catalogue: ServiceCatalogue = serde_json::from_str(
            r#"{"key-value":{"redis":{"2.2":{"description":"Redis"}}},
                "database":{"mysql":{"5.1":{"description":"MySQL"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            system_rows(&catalogue),
            vec![
                vec!["mysql".to_owned(), "5.1".into(), "MySQL".into()],
                vec!["redis".to_owned(), "2.2".into(), "Redis".into()],
            ]
        );
    }
}
