#!/usr/bin/env bash
# Blob Storage (Azurite over HTTPS with OAuth, tokens from fake-graph) against a local --out:
# the sample tenant audited N times into each, then evidence verify of each. Needs the debug
# binaries (`cargo build --bins`) and Azurite (`npm ci --prefix .ci/azurite`).
#   N=20 benches/blob_overhead.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ENTRA_DRIFT:-$ROOT/target/debug/entra-drift}
W=${WORK:-$(mktemp -d)}
rm -rf $W/data $W/local; mkdir -p $W/data $W/local
$ROOT/target/debug/fake-graph --tenant-dir $ROOT/fixtures/contoso-core --ca-out $W/fg.pem > $W/fg.out 2>/dev/null &
FG=$!
openssl req -x509 -newkey rsa:2048 -nodes -keyout $W/key.pem -out $W/cert.pem -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
$ROOT/.ci/azurite/node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort 0 --oauth basic --loose --skipApiVersionCheck --cert $W/cert.pem --key $W/key.pem --location $W/data > $W/az.out 2>/dev/null &
AZ=$!
sleep 4
FGURL=$(python3 -c "import json;print(json.load(open('$W/fg.out'))['url'])")
AZURL=$(grep -o 'https://127.0.0.1:[0-9]*' $W/az.out | head -1)
cat $W/fg.pem $W/cert.pem > $W/trust.pem
TOKEN=$(python3 -c "
import base64,json,time
b=lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b'=').decode()
n=int(time.time())
print(b({'alg':'RS256','typ':'JWT'})+'.'+b({'aud':'https://storage.azure.com','iss':'https://sts.windows.net/x/','nbf':n-60,'iat':n-60,'exp':n+3600,'oid':'x','tid':'x'})+'.c2ln')")
curl -sk -X PUT "$AZURL/devstoreaccount1/runs?restype=container" -H "x-ms-version: 2025-01-05" -H "Authorization: Bearer $TOKEN" -w "container: %{http_code}\n" -o /dev/null
export SSL_CERT_FILE=$W/trust.pem AZURE_AUTHORITY_HOST=$FGURL AZURE_CLIENT_ID=c AZURE_CLIENT_SECRET=s
N=${N:-10}
t0=$(date +%s.%N)
for i in $(seq 1 $N); do ENTRA_DRIFT_NOW=$(date -u -d "2026-01-01 + $i days" +%FT06:00:00Z) $B -q audit --tenant-dir $ROOT/fixtures/contoso-core --out $W/local >/dev/null; done
t1=$(date +%s.%N)
for i in $(seq 1 $N); do ENTRA_DRIFT_NOW=$(date -u -d "2026-01-01 + $i days" +%FT06:00:00Z) $B -q audit --tenant-dir $ROOT/fixtures/contoso-core --out $AZURL/devstoreaccount1/runs/m >/dev/null; done
t2=$(date +%s.%N)
AZURE_TENANT_ID=a27b43c7-0a4f-4c67-a4d9-b08c482f4357 $B evidence verify $AZURL/devstoreaccount1/runs/m 2>&1 | tail -1
t3=$(date +%s.%N)
AZURE_TENANT_ID=a27b43c7-0a4f-4c67-a4d9-b08c482f4357 $B evidence verify $W/local 2>&1 | tail -1
t4=$(date +%s.%N)
python3 -c "
l=($t1-$t0)/$N; b=($t2-$t1)/$N
print(f'audit local {l:.3f} s/run, blob {b:.3f} s/run, ratio x{b/l:.2f} (N=$N)')
print(f'evidence verify blob {$t3-$t2:.2f} s, local {$t4-$t3:.2f} s')"
kill $FG $AZ
