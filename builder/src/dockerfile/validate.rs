//! Checks Docker makes on expanded values: stop signals and exposed ports.

const SIGNALS: [&str; 34] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
];

/// Docker's `signal.ParseSignal` for Linux: a number 1..=64, or a name with
/// or without `SIG` (`RTMIN+n` / `RTMAX-n` included).
pub(crate) fn signal(s: &str) -> Result<(), String> {
    let bad = || Err(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i64>() {
        return if (1..=64).contains(&n) { Ok(()) } else { bad() };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) || name == "XFSZ" || name == "RTMIN" || name == "RTMAX" {
        return Ok(());
    }
    let rt = |prefix: &str, sep: char| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sep))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    if rt("RTMIN", '+') || rt("RTMAX", '-') {
        Ok(())
    } else {
        bad()
    }
}

/// `port[-port][/tcp|udp|sctp]` as EXPOSE takes it.
pub(crate) fn port(spec: &str) -> Result<(), String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (spec, None),
    };
    if let Some(proto) =
        proto.filter(|p| !["tcp", "udp", "sctp"].contains(&p.to_ascii_lowercase().as_str()))
    {
        return Err(format!("invalid proto: {proto}"));
    }
    let num = |p: &str| p.parse::<u16>().ok();
    let ok = match ports.split_once('-') {
        Some((a, b)) => matches!((num(a), num(b)), (Some(a), Some(b)) if a <= b),
        None => num(ports).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid containerPort: {ports}"))
    }
}
