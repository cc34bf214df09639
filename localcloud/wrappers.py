"""Stand-ins found first on a daemon's PATH: `qemu-img`, `mount` (Cinder, Nova), QEMU (libvirt)."""

from __future__ import annotations

from pathlib import Path

# qemu-img sizes LUKS key slots by timing PBKDF2 iterations against the thread's CPU time; this
# VM's kernel accounts it coarsely, and about one run in three fails with "Unable to get accurate
# CPU usage" (measured: the same command from Python's subprocess, 1 failure in 3). Cinder's
# encrypted volume creation runs exactly that, so its rootwrap finds this wrapper first: it
# retries that one error, and passes any other failure through unchanged.
QEMU_IMG = """#!/bin/bash
# hdh local cloud: Cinder's qemu-img (rootwrap and cinder-volume find this file first).
# Cinder's NFS driver resizes a volume copied from an image with `qemu-img resize FILE <n>G`,
# then checks the virtual size is <n> GiB. For a LUKS container (an encrypted image, copied as
# is) qemu-img would want the key, and the virtual size is the payload after the LUKS header.
# Cinder treats LUKS images as raw (cinder.image.image_utils): resize the file as raw to the
# payload offset plus <n> GiB, so the LUKS payload is exactly the size asked for.
magic=$(head -c 6 "$2" 2>/dev/null | od -An -tx1 | tr -d ' \\n')
gib='^[0-9]+G$'
# Cinder's NFS driver makes a blank encrypted volume a qcow2 file with LUKS encryption inside
# (`create -f qcow2 -o encrypt.format=luks,encrypt.key-secret=S,...`). Nova Zed's libvirt driver
# checks such a file with `cryptsetup isLuks` (false: it is qcow2) and then formats it with
# `cryptsetup luksFormat`, destroying it (seen here). Make it a raw LUKS container with the same
# secret and cipher instead: the layout of volumes copied from an encrypted image, which Cinder
# reports as raw and Nova lets QEMU open natively.
if [ "$1" = create ] && [ "$2" = -f ] && [ "$3" = qcow2 ] && [ "$4" = -o ] &&
   [[ $5 == encrypt.format=luks,* ]]; then
  opts=${5#encrypt.format=luks,}
  opts=${opts//encrypt./}
  shift 5
  set -- create -f luks -o "$opts" "$@"
fi
if [ "$1" = resize ] && [ "$#" -eq 3 ] && [ "$magic" = 4c554b53babe ] && [[ $3 =~ $gib ]]; then
  read -r b0 b1 b2 b3 < <(od -An -j104 -N4 -tu1 "$2")
  offset=$(( ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * 512 ))
  set -- resize -f raw "$2" $(( ${3%G} * 1073741824 + offset ))
fi
for try in 1 2 3 4 5 6 7 8; do
  { err=$(/usr/bin/qemu-img "$@" 2>&1 1>&3 3>&-); } 3>&1
  rc=$?
  [ "$rc" -eq 0 ] && { [ -n "$err" ] && echo "$err" >&2; exit 0; }
  case "$err" in *"Unable to get accurate CPU usage"*) continue ;; esac
  break
done
echo "$err" >&2
exit "$rc"
"""


def mount(share: str, export: Path, real: str = "/bin/mount") -> str:
    """`mount` for Nova's privileged helper: an NFS mount of our share becomes a bind mount."""
    return f"""#!/bin/sh
# hdh local cloud: this kernel has no NFS client. Nova (and os-brick) mount Cinder's share with
# `mount -t nfs [OPTIONS] {share} MOUNTPOINT`; that one share is the directory
# {export} here, bind-mounted instead. Anything else goes to the real mount.
if [ "$1" = -t ] && [ "$2" = nfs ] && [ "$#" -ge 4 ]; then
  eval "mp=\\${{$#}}"
  eval "src=\\${{$(($# - 1))}}"
  if [ "$src" = "{share}" ]; then
    # Nova cannot tell a bind mount from its NFS mount, so it mounts again: once is enough
    # (stacked mounts outlived the cloud).
    if mountpoint -q "$mp"; then exit 0; fi
    exec {real} --bind "{export}" "$mp"
  fi
fi
exec {real} "$@"
"""


# libvirtd finds its emulator on its PATH; Nova has no setting for TCG's translation cache, which
# QEMU 7.2 sizes at 1 GiB: a 512 MiB guest's QEMU grew to ~1.15 GB RSS (measured). Cap it at what
# the testbed's VM uses; every other argument, and every other accelerator, goes through as is.
TB_SIZE_MIB = 256
QEMU_SYSTEM = f"""#!/bin/bash
# hdh local cloud: QEMU for libvirtd, with TCG's translation cache capped at {TB_SIZE_MIB} MiB.
args=()
prev=
for a in "$@"; do
  if [ "$prev" = -accel ] && [ "$a" = tcg ]; then
    args+=("tcg,tb-size={TB_SIZE_MIB}")
  else
    args+=("$a")
  fi
  prev=$a
done
exec /usr/bin/qemu-system-x86_64 "${{args[@]}}"
"""
