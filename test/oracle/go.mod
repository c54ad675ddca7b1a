module registry-gateway/test/oracle

go 1.19
