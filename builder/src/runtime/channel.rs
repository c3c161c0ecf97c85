//! Parent <-> init messages (youki `process/channel.rs`): named, typed
//! messages as JSON over a `SOCK_SEQPACKET` socketpair, so each message
//! arrives whole and a descriptor (the pty master) can ride along.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recv,
    recvmsg, sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

use super::error::{Result, RuntimeError, StartFailure};
use super::spec::{ContainerSpec, ProcessSpec};

/// How a container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code when it exited.
    pub code: Option<i32>,
    /// Signal number when it was killed.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// Docker's exit code: the process's own, or 128+n when killed by
    /// signal n.
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            (None, None) => 125,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    /// Parent -> init: start a container.
    Run(Box<ContainerSpec>),
    /// Parent -> init: start a process in the running container whose PID 1
    /// has host pid `pid`.
    Exec { pid: i32, process: Box<ProcessSpec> },
    /// Container -> parent, before exec: the pty master rides along.
    Pty,
    /// Init -> parent: the command was exec'd; `pid` is its host pid.
    Started { pid: i32 },
    /// Init -> parent: the command could not be started.
    Failed(StartFailure),
    /// Init -> parent: the command ended.
    Exited(ExitStatus),
}

impl Message {
    fn name(&self) -> &'static str {
        match self {
            Message::Run(_) => "Run",
            Message::Exec { .. } => "Exec",
            Message::Pty => "Pty",
            Message::Started { .. } => "Started",
            Message::Failed(_) => "Failed",
            Message::Exited(_) => "Exited",
        }
    }
}

/// One end of the socketpair.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair; both ends are close-on-exec.
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|source| RuntimeError::Channel {
            op: "socketpair",
            source,
        })?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn from_fd(fd: OwnedFd) -> Self {
        Channel { fd }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Message) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Message, fd: Option<RawFd>) -> Result<()> {
        let bytes = serde_json::to_vec(msg)
            .map_err(|e| RuntimeError::Protocol(format!("encode {}: {e}", msg.name())))?;
        let fds: Vec<RawFd> = fd.into_iter().collect();
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            Vec::new()
        } else {
            vec![ControlMessage::ScmRights(&fds)]
        };
        let iov = [IoSlice::new(&bytes)];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| RuntimeError::Channel { op: "send", source })?;
        Ok(())
    }

    /// The next message and the descriptor attached to it, or `None` when
    /// the other side closed the channel.
    pub fn recv(&self) -> Result<Option<(Message, Option<OwnedFd>)>> {
        let fail = |op| move |source| RuntimeError::Channel { op, source };
        // Peek with MSG_TRUNC returns the full length of the next packet.
        let len = loop {
            match recv(
                self.fd.as_raw_fd(),
                &mut [],
                MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
            ) {
                Err(nix::Error::EINTR) => continue,
                other => break other.map_err(fail("recv"))?,
            }
        };
        let mut buf = vec![0u8; len.max(1)];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(fail("recvmsg"))?;
            let mut fd = None;
            for cmsg in msg.cmsgs().map_err(fail("control message"))? {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    for raw in fds {
                        fd = Some(super::sys::owned_fd(raw));
                    }
                }
            }
            (msg.bytes, fd)
        };
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n])
            .map_err(|e| RuntimeError::Protocol(format!("decode: {e}")))?;
        Ok(Some((msg, fd)))
    }

    /// Like [`Channel::recv`], but the channel closing is a protocol error.
    pub fn expect(&self, what: &str) -> Result<(Message, Option<OwnedFd>)> {
        self.recv()?
            .ok_or_else(|| RuntimeError::Protocol(format!("the init exited before sending {what}")))
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_descriptors_cross_the_pair() {
        let (a, b) = Channel::pair().expect("pair");
        a.send(&Message::Started { pid: 42 }).expect("send");
        let (msg, fd) = b.expect("Started").expect("recv");
        assert!(matches!(msg, Message::Started { pid: 42 }));
        assert!(fd.is_none());

        let (r, w) = nix::unistd::pipe().expect("pipe");
        a.send_with_fd(&Message::Pty, Some(w.as_raw_fd()))
            .expect("send fd");
        drop(w);
        let (msg, fd) = b.expect("Pty").expect("recv fd");
        assert!(matches!(msg, Message::Pty));
        nix::unistd::write(fd.expect("fd attached"), b"x").expect("write through passed fd");
        let mut byte = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut byte).expect("read"), 1);

        drop(a);
        assert!(b.recv().expect("eof").is_none());
    }

    #[test]
    fn exit_status_maps_to_docker_codes() {
        let exited = ExitStatus {
            code: Some(3),
            signal: None,
        };
        let killed = ExitStatus {
            code: None,
            signal: Some(9),
        };
        assert_eq!(exited.exit_code(), 3);
        assert_eq!(killed.exit_code(), 137);
    }
}
