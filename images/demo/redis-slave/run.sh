#!/bin/sh
# gb-redisslave: a redis replica of the guestbook's master, found as the original image's run.sh did.
if [ "${GET_HOSTS_FROM:-dns}" = "env" ]; then
  master=${REDIS_MASTER_SERVICE_HOST:?GET_HOSTS_FROM=env needs REDIS_MASTER_SERVICE_HOST}
else
  master=redis-master
fi
# exec: redis-server becomes PID 1 and stops promptly on SIGTERM.
exec redis-server --protected-mode no --port 6379 --slaveof "$master" 6379
