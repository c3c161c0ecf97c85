//! `strata image pull`: an image from an OCI distribution registry.

use std::path::Path;

use builder::oci::registry::{ClientOptions, Reference, pull};

use crate::commands::context::open_store;

/// Download an image from a registry.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Suppress the progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// How to reach the registry; shared with `image push`.
#[derive(Debug, clap::Args)]
pub struct RegistryFlags {
    /// Insecure registry: accept an unverified certificate or plain HTTP
    /// (always so for localhost and 127.0.0.0/8).
    #[arg(long)]
    pub insecure: bool,
    /// Retries after a 5xx answer or a broken connection.
    #[arg(long, default_value_t = 4, hide = true)]
    pub retries: u32,
}

impl RegistryFlags {
    /// Client options; credentials come from the auth files.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            insecure: self.insecure,
            retries: Some(self.retries),
            credentials: None,
            certs_dir: None,
        }
    }
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let r = Reference::parse(&args.name)?;
    let opts = args.registry.client_options();
    if !args.quiet {
        println!("{}: Pulling from {}", r.manifest_ref(), r.repository);
    }
    let before = store
        .resolve_image(&args.name)
        .ok()
        .map(|i| i.id.to_string());
    let result = if args.quiet {
        pull(&store, &args.name, &opts, &builder::oci::NoProgress)?
    } else {
        pull(&store, &args.name, &opts, &super::progress::Bars::new())?
    };
    if !args.quiet {
        println!("Digest: {}", result.digest);
        if before.as_deref() == Some(result.id.as_str()) {
            println!("Status: Image is up to date for {r}");
        } else {
            println!("Status: Downloaded newer image for {r}");
        }
    }
    println!("{r}");
    Ok(0)
}
