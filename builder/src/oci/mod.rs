//! oci (to be written).
