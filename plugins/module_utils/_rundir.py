# -*- coding: utf-8 -*-
# Copyright: (c) 2026, hypervisor.networking contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This collection's notes under /run, private to this collection.

The lock, armed reverts, the TAP creation journal and the note that we created
iptables-nft's filter table live in /run/hypervisor-networking. The directory is trusted
only when it is root's (the running user's), a real directory and writable by no one
else; files in it are opened without following symlinks and replaced atomically. Notes
are kept per network namespace (namespaces share /run) and swept once their namespace is
gone.
"""

from __future__ import annotations

import glob
import json
import os
import re
import stat
import time

from ansible_collections.hypervisor.networking.plugins.module_utils._errors import StateError

RUN_DIR = "/run/hypervisor-networking"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# notes that name the network namespace (its inode) they belong to; probes' notes name
# their run instead (_probe sweeps them)
_NS_NOTE = re.compile(r"\A(?!probe-).*-(\d+)(\.json|\.zip)?(\.reverted)?\Z")
_TMP_AGE = 60  # s: a temporary file younger than this may be a running writer's


def ensure(path=RUN_DIR):
    """Make ``path`` (0755, ours) if missing, and refuse one that is a symlink, not a
    directory, owned by another user or writable by group or others."""
    parent = os.path.dirname(path)
    if path != RUN_DIR and parent.startswith(RUN_DIR):
        ensure(parent)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise StateError("%s is not a directory (a symlink or a file there is not ours): remove it" % path)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise StateError("%s is owned by uid %d with mode %04o: this collection keeps its state only in a "
                         "directory of its own user that no one else can write; remove it"
                         % (path, st.st_uid, stat.S_IMODE(st.st_mode)))
    return path


def open_fd(path, flags, mode=0o600):
    """os.open that never follows a symlink at ``path`` (its directory checked first)."""
    ensure(os.path.dirname(path))
    return os.open(path, flags | os.O_NOFOLLOW | _CLOEXEC, mode)


def write_text(path, text, mode=0o600):
    """Replace ``path`` atomically with ``text`` (a temporary file of our own, renamed)."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.rename(tmp, path)


def write_json(path, data):
    """Replace ``path`` atomically with ``data`` as JSON."""
    write_text(path, json.dumps(data))


def read_text(path):
    """The text of ``path`` (None: missing, a symlink, or unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd) as handle:
        return handle.read()


def read_json(path):
    """``path`` as JSON (None: missing, a symlink, or not JSON)."""
    text = read_text(path)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def remove(path):
    """Remove a note (missing is fine)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def netns_inode():
    """The inode of this process's network namespace (what notes are keyed by)."""
    return os.stat("/proc/self/ns/net").st_ino


def live_namespaces():
    """Inodes of the network namespaces that exist: those of running processes and those
    bound under /run/netns (a namespace with neither is gone)."""
    found = set()
    for link in glob.glob("/proc/[0-9]*/ns/net"):
        try:
            found.add(os.stat(link).st_ino)
        except OSError:  # the process ended meanwhile, or is not ours to look at
            continue
    for bound in glob.glob("/run/netns/*"):
        try:
            found.add(os.stat(bound).st_ino)
        except OSError:
            continue
    return found


def sweep(directory=RUN_DIR):
    """Remove notes of network namespaces that are gone; return their names."""
    if not os.path.isdir(directory) or os.path.islink(directory):
        return []
    live, gone = None, []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if ".tmp-" in name:
            # a writer killed between writing and renaming; a live one is seconds old
            try:
                if os.lstat(path).st_mtime < time.time() - _TMP_AGE:
                    remove(path)
                    gone.append(name)
            except OSError:
                pass
            continue
        match = _NS_NOTE.search(name)
        if not match:
            continue
        if live is None:
            live = live_namespaces()
        if int(match.group(1)) not in live:
            remove(path)
            gone.append(name)
    return gone


def process_start(pid):
    """A process's start time in clock ticks since boot (None: no such process): with its
    pid, what identifies it, since pids are reused."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    # the command name (field 2) may hold spaces and parentheses: count after its end
    return int(text[text.rindex(")") + 2:].split()[19])
