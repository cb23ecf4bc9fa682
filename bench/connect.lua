-- Connection set-up rate: every event opens a connection, runs one query and disconnects.
-- sysbench bench/connect.lua --db-driver=mysql --mysql-host=... --threads=N --time=S run
-- (the events/s figure of the report is the rate).

function thread_init()
   drv = sysbench.sql.driver()
end

function event()
   local con = drv:connect()
   con:query("SELECT 1")
   con:disconnect()
end
