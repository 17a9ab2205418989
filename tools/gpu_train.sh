#!/usr/bin/env bash
# Device-side driver for training on a lent GPU machine (see tools/devdata.py for moving the audio).
#   tools/gpu_train.sh setup                 install the carried wheels (.whl/) into /tmp/site
#   tools/gpu_train.sh unpack .devdata/partN.zip
#   tools/gpu_train.sh decode                decode what has arrived into the int16 cache
#   tools/gpu_train.sh train NAME [OPTIONS]  one run in /root/runs/NAME (log: /root/runs/NAME.log)
#   tools/gpu_train.sh many FILE PREFIX [OPTIONS]  one run per line "NAME OPTIONS" of FILE, all at once on
#                                            the one GPU, as PREFIX+NAME; OPTIONS are added to every run
#   tools/gpu_train.sh weights               copy the carried Whisper weights (.w/) to /root/w
#   tools/gpu_train.sh pack OUT              the runs' configs, logs and models (no resume state) -> OUT.tar.gz
#   tools/gpu_train.sh logs OUT              the runs' configs and logs alone -> OUT.tar.gz
#   tools/gpu_train.sh split RUN OUT         RUN's model in 15 MiB pieces OUT.partNN (cat them back together)
set -euo pipefail
DATA=/root/shared/data
CACHE=/root/cache/bank
RUNS=/root/runs
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD
mkdir -p $RUNS

case "$1" in
setup)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    python3 -c "import torch, soundfile; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0), 'libsndfile', soundfile.__libsndfile_version__)"
    ;;
weights) mkdir -p /root/w && cp .w/*.safetensors /root/w/ ;;
unpack) python3 tools/devdata.py unpack "$2" $DATA ;;
decode) python3 tools/devdata.py decode $DATA $CACHE ;;
train)
    name=$2
    shift 2
    python3 -m streamlid train --manifest $DATA/manifest.csv --synth-manifest $DATA/synth/manifest.csv \
        --cache $CACHE --out $RUNS/"$name" --quiet "$@" >$RUNS/"$name".log 2>&1
    ;;
many)
    file=$2 prefix=$3
    shift 3
    while read -r name opts; do
        [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
        # shellcheck disable=SC2086  # opts is a list of options
        bash "$0" train "$prefix$name" "$@" $opts </dev/null &
    done <"$file"
    wait
    tail -n 1 $RUNS/"$prefix"*.log
    ;;
pack) tar -czf "$2".tar.gz -C $RUNS --exclude=last.pt --exclude=last.tmp . ;;
logs) tar -czf "$2".tar.gz -C $RUNS --exclude=last.pt --exclude=last.tmp --exclude='*.safetensors' . ;;
split)
    cp $RUNS/"$2"/model.json "$3".json
    split -b 15M -d $RUNS/"$2"/model.safetensors "$3".safetensors.part
    ;;
*)
    echo "unknown stage $1" >&2
    exit 2
    ;;
esac
