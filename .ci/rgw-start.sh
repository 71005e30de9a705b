#!/usr/bin/env bash
# Starts a throwaway one-node Ceph cluster (a monitor, one memstore OSD, radosgw) on 127.0.0.1 with all
# of its state under DIR, and an S3 user for the tests. Prints the S3 endpoint as its last line.
#
#   .ci/rgw-start.sh DIR [PORT=17480] [MONPORT=13300]
#
# Needs Debian's radosgw, ceph-mon and ceph-osd. Everything lives in memory (memstore, 2 GiB): nothing
# survives .ci/rgw-stop.sh DIR, which stops the daemons by the pids they wrote under DIR/run.
# cephx stays on: radosgw hangs at start-up with `auth = none`.
set -euo pipefail
D=${1:?usage: rgw-start.sh DIR [PORT] [MONPORT]}
PORT=${2:-17480}
MONPORT=${3:-13300}
ACCESS_KEY=${RGW_ACCESS_KEY:-docfleetak}
SECRET_KEY=${RGW_SECRET_KEY:-docfleetsk}

for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen curl; do
  command -v "$bin" >/dev/null || { echo "rgw-start: $bin is not installed" >&2; exit 1; }
done
for p in "$PORT" "$MONPORT"; do
  if (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "rgw-start: port $p is already in use" >&2
    exit 1
  fi
done

D=$(mkdir -p "$D" && cd "$D" && pwd)
rm -rf "${D:?}"/{mon,osd,rgw,run,log,ceph.conf,keyring,monmap}
mkdir -p "$D"/{mon/a,osd/0,rgw,run,log}
cd "$D"

fail() {
  echo "rgw-start: $1" >&2
  for f in "$D"/log/*.log; do [ -f "$f" ] && { echo "--- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}

FSID=$(uuidgen)
cat >ceph.conf <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MONPORT
mon initial members = a
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 2147483648
run dir = $D/run
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
public addr = 127.0.0.1
ms bind ipv6 = false
keyring = $D/keyring
[mon.a]
mon data = $D/mon/a
[osd.0]
osd data = $D/osd/0
[client.rgw.a]
rgw data = $D/rgw
rgw frontends = beast endpoint=127.0.0.1:$PORT
# STS (AssumeRole) for the credential-chain tests: temporary keys with a session token, as an instance
# role hands out. The key encrypts session tokens: a fixed test value on this throwaway cluster.
rgw s3 auth use sts = true
rgw sts key = docfleetstskey16
CONF

ceph-authtool --create-keyring keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool keyring --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --addv a "[v2:127.0.0.1:$MONPORT]" --fsid "$FSID" monmap >/dev/null
ceph-mon -c ceph.conf --mkfs -i a --monmap monmap --keyring keyring || fail "ceph-mon --mkfs failed"
ceph-mon -c ceph.conf -i a || fail "ceph-mon did not start"

OSD_UUID=$(uuidgen)
ID=$(timeout 60 ceph -c ceph.conf osd new "$OSD_UUID") || fail "the monitor did not answer 'osd new'"
timeout 30 ceph -c ceph.conf auth get-or-create "osd.$ID" mon 'allow profile osd' osd 'allow *' mgr 'allow profile osd' >>keyring ||
  fail "no key for osd.$ID"
ceph-osd -c ceph.conf -i "$ID" --mkfs --osd-uuid "$OSD_UUID" 2>/dev/null || fail "ceph-osd --mkfs failed"
ceph-osd -c ceph.conf -i "$ID" 2>/dev/null || fail "ceph-osd did not start"
timeout 30 ceph -c ceph.conf auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >>keyring ||
  fail "no key for radosgw"
radosgw -c ceph.conf -n client.rgw.a || fail "radosgw did not start"

up=""
for _ in $(seq 1 240); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then up=1; break; fi
  sleep 0.5
done
[ -n "$up" ] || fail "radosgw does not answer on 127.0.0.1:$PORT after 120 s"
timeout 60 radosgw-admin -c ceph.conf user create --uid=docfleet --display-name=docfleet \
  --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >/dev/null || fail "radosgw-admin user create failed"
# A role the user may assume (STS AssumeRole), allowed everything on S3: the credential-chain tests hand
# its temporary keys out through an IMDSv2 stand-in, as EC2 hands out an instance role's.
timeout 60 radosgw-admin -c ceph.conf caps add --uid=docfleet --caps="roles=*" >/dev/null || fail "caps add failed"
timeout 60 radosgw-admin -c ceph.conf role create --role-name=docfleet-instance --path=/ \
  --assume-role-policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/docfleet"]},"Action":["sts:AssumeRole"]}]}' \
  >/dev/null || fail "role create failed"
timeout 60 radosgw-admin -c ceph.conf role-policy put --role-name=docfleet-instance --policy-name=s3 \
  --policy-doc='{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*"],"Resource":"arn:aws:s3:::*"}}' \
  >/dev/null || fail "role-policy put failed"

echo "rgw-start: pids mon $(cat run/mon.a.pid) osd $(cat "run/osd.$ID.pid") rgw $(cat run/client.rgw.a.pid)" >&2
echo "http://127.0.0.1:$PORT"
