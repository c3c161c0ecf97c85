//! `strata-overlayfs -o lowerdir=A:B,upperdir=U,workdir=W MOUNTPOINT`:
//! a mount program with fuse-overlayfs's command line.

fn main() {
    eprintln!("strata-overlayfs: not implemented yet");
    std::process::exit(1);
}
