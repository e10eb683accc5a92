# Runs inside the image under test (image/boot-test puts it on the boot partition and starts
# it with systemd.run=); everything it prints goes to the serial console.
exec > /dev/console 2>&1
up() { cut -d' ' -f1 /proc/uptime; }
echo "IMAGETEST: begin uptime=$(up)s"
result=PASS
check() { if "$@"; then :; else echo "IMAGETEST: FAILED: $*"; result=FAIL; fi; }
# hearken.service is Type=notify: "active" only after READY=1.
state=
for _ in $(seq 900); do
	state=$(systemctl show -P ActiveState hearken.service)
	case $state in active|failed) break ;; esac
	sleep 1
done
echo "IMAGETEST: hearken.service=$state uptime=$(up)s status=\"$(systemctl show -P StatusText hearken.service)\""
check [ "$state" = active ]
echo "IMAGETEST: firstboot: hostname=$(hostname) user=$(id tester 2>&1) keys=$(wc -l < /home/tester/.ssh/authorized_keys 2>&1) userconf-left=$(ls /boot/firmware/userconf.txt 2>&1 | wc -l)"
check [ "$(hostname)" = hearken-test ]
check test -s /home/tester/.ssh/authorized_keys
journalctl -b -u hearken.service -u hearken-firstboot.service --no-pager -o short-monotonic | tail -40 | sed 's/^/IMAGETEST: journal: /'
echo "IMAGETEST: status:"
if hearken --config /etc/hearken/config.toml status > /tmp/status.txt 2>&1; then
	sed 's/^/IMAGETEST: status: /' /tmp/status.txt
else
	sed 's/^/IMAGETEST: status: /' /tmp/status.txt; check false hearken status
fi
# One turn through the whole pipeline, with its own API socket off (the service holds it).
sed 's|^socket = .*|socket = ""|' /etc/hearken/config.toml > /tmp/turn.toml
echo "IMAGETEST: simulate start uptime=$(up)s"
if runuser -u hearken -- hearken --config /tmp/turn.toml simulate --json \
	--input /boot/firmware/imagetest.wav --out /tmp/reply.wav > /tmp/turn.json 2> /tmp/turn.err; then
	sed 's/^/IMAGETEST: turn: /' /tmp/turn.json
	check grep -q '"wake_word":"alexa"' /tmp/turn.json
	check grep -qi 'capital of france' /tmp/turn.json
else
	tail -20 /tmp/turn.err | sed 's/^/IMAGETEST: turn error: /'; check false hearken simulate
fi
echo "IMAGETEST: simulate end uptime=$(up)s"
systemd-analyze time 2>&1 | sed 's/^/IMAGETEST: /'
echo "IMAGETEST-RESULT: $result"
[ $result = PASS ]
