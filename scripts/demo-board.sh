#!/usr/bin/env bash
# Builds a realistic board in the current directory: 5 workstreams, 60
# tasks, 6 agents, finished and failed work, claims, locks, events and
# knowledge. Usage: demo-board.sh ORC (run inside an empty folder).
# The screenshots in the README are taken of it (screenshot.sh,
# screenshot-serve.sh).
set -euo pipefail
orc="$1"
git init -q -b main
git config user.name "Dana Lead"
git config user.email "dana@example.com"
git commit -q --allow-empty -m "project"

streams=("revenue:Payments and billing:1" "product:Core product work:2" "infra:CI, deploys, observability:2" "docs:Guides and API reference:3" "growth:Onboarding and analytics:4")
titles=("Add USDC payments" "Refund flow" "Invoice PDFs" "Webhook retries" "Tax rates by region" "Usage-based billing"
        "Search filters" "Bulk edit" "Undo history" "Keyboard shortcuts" "Dark mode" "Export to CSV"
        "Cache warm-up" "Blue-green deploys" "Trace sampling" "Flaky test quarantine" "Backup drills" "Cost alerts"
        "Quick start" "API reference" "Migration guide" "FAQ" "Troubleshooting" "Changelog page"
        "Signup funnel" "Welcome email" "Referral codes" "Trial reminders" "Activation metric" "Pricing page test")
declare -A ids
n=0
for entry in "${streams[@]}"; do
  IFS=: read -r ws desc pri <<<"$entry"
  "$orc" ws create "$ws" "$desc" "$pri" >/dev/null 2>&1
  for i in $(seq 0 11); do
    title="${titles[$(( (n / 12) * 6 + i % 6 ))]}"
    [ "$i" -ge 6 ] && title="$title, part 2"
    ids[$n]=$("$orc" t add "$ws" "$title" "" $(( 1 + i % 4 )))
    n=$((n + 1))
  done
done
for a in 1 2 3 4 5 6; do
  role=worker; [ "$a" = 6 ] && role=reviewer
  "$orc" a register "agent-$a" "$role" >/dev/null
done
# Finished work, claims, a failure, locks, events and knowledge.
for i in 0 1 2 12 13 24 25 26 27 36 48; do
  "$orc" t claim "${ids[$i]}" agent-$(( i % 5 + 1 )) >/dev/null
  "$orc" complete "${ids[$i]}" "merged" --agent agent-$(( i % 5 + 1 )) >/dev/null
done
"$orc" t claim "${ids[14]}" agent-3 >/dev/null
"$orc" fail "${ids[14]}" "staging cluster unavailable" --agent agent-3 >/dev/null
for i in 3 15 28 37 49; do "$orc" t claim "${ids[$i]}" agent-$(( i % 5 + 1 )) >/dev/null; done
"$orc" lock acquire deploy --ttl 10m --agent agent-2 >/dev/null
"$orc" lock acquire payments-db --ttl 5m --agent agent-4 >/dev/null
"$orc" log deployed --data '{"service":"api","version":"2.4.1"}' --agent agent-2 >/dev/null
"$orc" log tests.passed --data '{"suite":"billing","note":"412 passed"}' --agent agent-4 >/dev/null
"$orc" a heartbeat agent-6 --status "reviewing #218" >/dev/null
"$orc" kb write api-design $'# API design\n\n- **REST** for external clients\n- events for internal services\n- version in the path: `/v2/...`' >/dev/null
"$orc" kb write runbooks/deploy $'# Deploy runbook\n\n1. `orc lock run deploy -- ./deploy.sh`\n2. watch the error rate for 10 minutes\n3. roll back with `./deploy.sh --previous`' >/dev/null
