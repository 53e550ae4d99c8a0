#!/bin/sh
# multipart/setup.sh -- the x-shellscript part of the user-data built in
# README.md.  cloud-init runs it once, in its final stage, after the runcmd
# script (`meshboot run`) has finished.  It waits until the sidecar reports
# ready and then starts the application, so the application's first
# connections already go through the mesh.  reviews.service is installed
# in the image.
set -eu

ready=http://127.0.0.1:15021/healthz/ready   # pilot-agent's readiness probe
tries=60                                     # 60 x 2 s

until curl -fsS -o /dev/null "$ready"; do
	tries=$((tries - 1))
	if [ "$tries" -le 0 ]; then
		echo "setup.sh: sidecar not ready after 120 s; see journalctl -u istio-sidecar.service" >&2
		exit 1
	fi
	sleep 2
done

systemctl enable --now reviews.service
