#!/bin/bash
# Make the test PKI for the SMTP servers in DIR (created if missing).
#
#   tests/servers/pki.sh DIR          keep DIR if it is complete
#   PKI_FORCE=1 tests/servers/pki.sh DIR   always make a new one
#
# Files, all PEM (NAME.key unencrypted RSA 2048, NAME.crt the leaf,
# NAME.chain.pem the leaf followed by ca.crt; selfsigned.chain.pem is just
# the leaf):
#   ca.key ca.crt         the test CA (trust only this: --cacert DIR/ca.crt)
#   server.*              CN localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1
#   wronghost.*           CN wrong.example, SAN DNS:wrong.example only
#   expired.*             names as server, valid 2020-01-01 .. 2021-01-01
#   notyet.*              names as server, valid 2040-01-01 .. 2041-01-01
#   selfsigned.*          names as server, signed by its own key
#   server.pin            "sha256//BASE64" of the SHA-256 of server.crt's
#                         DER SubjectPublicKeyInfo (curl --pinnedpubkey form)
#   otherkey.pin          the same for a key no certificate uses (a pin that
#                         never matches)
# The CA is valid 2019-01-01 .. 2050-01-01, server/wronghost/selfsigned
# from yesterday for 10 years.  openssl ca is used for the
# leaves because x509 -req cannot backdate (-startdate/-enddate).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$1
NAMES=(server wronghost expired notyet selfsigned)

complete() {
	local n
	for n in ca.crt ca.key server.pin otherkey.pin; do [ -s "$DIR/$n" ] || return 1; done
	for n in "${NAMES[@]}"; do
		[ -s "$DIR/$n.key" ] && [ -s "$DIR/$n.crt" ] && [ -s "$DIR/$n.chain.pem" ] || return 1
	done
}
if [ "${PKI_FORCE:-0}" != 1 ] && complete; then
	exit 0
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
W=$DIR/ca-work
rm -rf "$W"
mkdir -p "$W/new"
: >"$W/index.txt"
echo 1000 >"$W/serial"
cat >"$W/ca.cnf" <<CNF
[ ca ]
default_ca = testca
[ testca ]
dir = $W
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir/new
certificate = $DIR/ca.crt
private_key = $DIR/ca.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = smtpcred test CA
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ leaf_localhost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ leaf_wrong ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
[ self_localhost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
CNF

newkey() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ||
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; chmod 600 "$1"; }
ts() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

# CA, valid 2019-01-01 .. 2050-01-01 so that the dates of every leaf,
# the expired and not-yet-valid ones too, lie inside the CA's own.
newkey "$DIR/ca.key"
openssl req -new -config "$W/ca.cnf" -key "$DIR/ca.key" -out "$W/ca.csr" 2>/dev/null
openssl ca -batch -selfsign -config "$W/ca.cnf" -keyfile "$DIR/ca.key" \
	-extensions v3_ca -extfile "$W/ca.cnf" -startdate 20190101000000Z \
	-enddate 20500101000000Z -in "$W/ca.csr" -out "$W/ca.full" >"$W/ca.log" 2>&1 ||
	{ cat "$W/ca.log" >&2; exit 1; }
openssl x509 -in "$W/ca.full" -out "$DIR/ca.crt"

# leaf NAME CN SECTION START END
leaf() {
	local n=$1 cn=$2 sect=$3 start=$4 end=$5
	newkey "$DIR/$n.key"
	openssl req -new -config "$W/ca.cnf" -key "$DIR/$n.key" -subj "/CN=$cn" \
		-out "$W/$n.csr" 2>/dev/null
	openssl ca -batch -config "$W/ca.cnf" -extensions "$sect" -extfile "$W/ca.cnf" \
		-startdate "$start" -enddate "$end" -in "$W/$n.csr" -out "$W/$n.full" \
		>"$W/$n.log" 2>&1 || { cat "$W/$n.log" >&2; exit 1; }
	openssl x509 -in "$W/$n.full" -out "$DIR/$n.crt"
	cat "$DIR/$n.crt" "$DIR/ca.crt" >"$DIR/$n.chain.pem"
}
# "yesterday": a client whose clock is a little behind still accepts it.
leaf server localhost leaf_localhost "$(ts yesterday)" "$(ts '+3650 days')"
leaf wronghost wrong.example leaf_wrong "$(ts yesterday)" "$(ts '+3650 days')"
leaf expired localhost leaf_localhost 20200101000000Z 20210101000000Z
leaf notyet localhost leaf_localhost 20400101000000Z 20410101000000Z

newkey "$DIR/selfsigned.key"
openssl req -new -x509 -config "$W/ca.cnf" -extensions self_localhost \
	-key "$DIR/selfsigned.key" -subj /CN=localhost -days 3650 \
	-out "$DIR/selfsigned.crt" 2>/dev/null
cp "$DIR/selfsigned.crt" "$DIR/selfsigned.chain.pem"

pin() { openssl pkey -pubin -outform DER 2>/dev/null | openssl dgst -sha256 -binary | openssl base64 -A; }
printf 'sha256//%s\n' "$(openssl x509 -in "$DIR/server.crt" -pubkey -noout | pin)" >"$DIR/server.pin"
newkey "$W/other.key"
printf 'sha256//%s\n' "$(openssl pkey -in "$W/other.key" -pubout | pin)" >"$DIR/otherkey.pin"

chmod 644 "$DIR"/*.crt "$DIR"/*.chain.pem "$DIR"/*.pin
chmod 755 "$DIR"
