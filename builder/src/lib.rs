//! Images for strata: the layer store and catalog, the Dockerfile language,
//! builds, the container runtime and OCI interchange. No printing, no clap:
//! every function returns typed results for the CLI to present.

pub mod build;
pub mod container;
pub mod dockerfile;
#[doc(hidden)]
pub mod fuzz;
pub mod oci;
pub mod runtime;
pub mod store;
