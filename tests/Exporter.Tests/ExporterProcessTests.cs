using System.Diagnostics;
using System.Net;
using System.Text;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>The exporter binary started as its README and its Deployment start it: a real process on a real Redis.</summary>
public sealed class ExporterProcessTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-exporter-process-").FullName;

    [Fact]
    public async Task Exporter_started_with_the_readme_arguments_serves_ready_metrics_and_the_usage_api()
    {
        var tokenFile = Path.Combine(_directory, "export-token");
        await File.WriteAllTextAsync(tokenFile, "s3cret\n");
        var port = LocalMachine.FreeLoopbackPort();
        using var process = Start("--listen", $"127.0.0.1:{port}", "--ledger", redis.Address + "/3", "--policy", Path.Combine(RepositoryPaths.Root(), "config", "samples"),
            "--token-file", tokenFile);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            await WaitUntilReadyAsync(process, client);

            var metrics = await client.GetStringAsync("/metrics");
            Assert.Contains("tollgate_budget_limit{", metrics, StringComparison.Ordinal);

            using var unauthorized = await client.GetAsync("/api/v1/usage");
            Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task A_consumer_that_cannot_go_on_stops_the_exporter_with_exit_code_1()
    {
        // The stream's key holds a string (a mistaken or hostile SET): every read fails with WRONGTYPE, which no retry mends.
        using (var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Endpoint))
        {
            await connection.GetDatabase(8).StringSetAsync("tollgate:{default}:usage", "not a stream");
        }

        using var process = Start("--listen", $"127.0.0.1:{LocalMachine.FreeLoopbackPort()}", "--ledger", redis.Address + "/8");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        Assert.Equal(1, process.ExitCode);
        Assert.Contains("The usage stream consumer failed", await stdout + await stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_exits_0_and_names_the_options()
    {
        using var process = Start("--help");
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("--ledger", stdout, StringComparison.Ordinal);
        Assert.Contains("opencost-plugin", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--listen", "127.0.0.1:0" }, "tollgate-exporter: --ledger: required (redis://host:port[/db])")]
    [InlineData(new[] { "--ledger", "redis://x:abc" }, "tollgate-exporter: --ledger: 'redis://x:abc' is not a valid Redis ledger address: the port 'abc' is not a number from 1 to 65535; expected redis://[user[:password]@]host[:port][/db] or rediss://… for TLS.")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--max-label-values", "0" }, "tollgate-exporter: --max-label-values: must be positive")]
    [InlineData(new[] { "--ledger", "redis://127.0.0.1:6379", "--max-label-values", "-3" }, "tollgate-exporter: --max-label-values: must be positive")]
    [InlineData(new[] { "--frobnicate" }, "tollgate-exporter: Unrecognized command or argument '--frobnicate'.")]
    public async Task Bad_invocation_exits_2_with_one_line_naming_the_flag(string[] args, string expected)
    {
        using var process = Start(args);
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(2, process.ExitCode);
        Assert.Equal(expected, stderr.Trim());
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
            StandardOutputEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Tollgate.Exporter.dll"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info)!;
    }

    private static async Task WaitUntilReadyAsync(Process process, HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(process.HasExited, $"the exporter exited with {(process.HasExited ? process.ExitCode : 0)}: {(process.HasExited ? await process.StandardError.ReadToEndAsync() : "")}");
            try
            {
                using var response = await client.GetAsync("/readyz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        Assert.Fail("the exporter did not become ready within 30 s");
    }
}
