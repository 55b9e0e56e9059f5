-- wrk: ask as an Azure SDK does.
wrk.method = "GET"
wrk.headers["Metadata"] = "true"
