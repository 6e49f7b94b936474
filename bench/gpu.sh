#!/usr/bin/env bash
# The GPU path, on one GPU, in under 8 minutes: training-core throughput (bench/gpu.py: digits
# with GPU-resident tensors vs the DataLoader, fake CIFAR-10-sized data with resnet18, bf16,
# channels_last, torch.compile on and off), then trials per hour with 1, 2 and 4 workers
# sharing GPU 0. Prints one table per part; JSON goes to $OUT (or ./bench-gpu) when given.
#   bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench-gpu}"
mkdir -p "$out"
export WANDB_MODE=disabled

python bench/gpu.py --device cuda --epochs 3 --json "$out/throughput.json"

root=$(mktemp -d)
echo
echo "trials per hour, workers sharing GPU 0 (digits, cnn, 12 trials x 10 epochs, no pruning)"
printf "%8s  %10s  %14s\n" workers seconds trials/hour
for k in 1 2 4; do
  start=$(date +%s.%N)
  python -c "from torchsweep.cli.app import app; app()" run "gpu_share_$k" --root "$root" \
    --param lr=log:0.01..0.2 --param batch_size=64,128 --set epochs=10 --trials 12 \
    --sampler random --pruner none --gpus 0 --workers-per-gpu "$k" --json > "$out/workers-$k.json"
  end=$(date +%s.%N)
  python - "$k" "$start" "$end" <<'PY'
import sys
k, start, end = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
seconds = end - start
print(f"{k:8d}  {seconds:10.1f}  {12 * 3600 / seconds:14.0f}")
PY
done
