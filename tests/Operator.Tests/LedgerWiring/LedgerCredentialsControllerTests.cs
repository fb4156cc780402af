using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using Tollgate.Operator.LedgerWiring;

namespace Tollgate.Operator.Tests.LedgerWiring;

public sealed class LedgerCredentialsControllerTests
{
    private static readonly string[] Users = ["tollgate-meter", "tollgate-exporter", "tollgate-operator"];

    [Fact]
    public async Task First_pass_creates_a_secret_per_component_and_an_acl_file_that_turns_each_user_on_with_its_password_hash_only()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        var result = await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);

        Assert.False(result.Failed, result.Error);
        Assert.Equal(TimeSpan.FromMinutes(1), result.RequeueAfter);
        var acl = cluster.SecretText("tollgate-redis-users", "users.acl")!;
        var passwords = new List<string>();
        foreach (var (secretName, user) in LedgerWiringOptions.Components.Select(c => (c.SecretName, c.User)))
        {
            Assert.Equal(user, cluster.SecretText(secretName, "user"));
            var password = cluster.SecretText(secretName, "password")!;
            Assert.Matches("^[0-9a-f]{64}$", password);
            passwords.Add(password);
            var line = Assert.Single(acl.Split('\n'), l => l.StartsWith($"user {user} ", StringComparison.Ordinal));
            Assert.EndsWith($" on #{Sha256(password)}", line, StringComparison.Ordinal);
            Assert.DoesNotContain(password, acl, StringComparison.Ordinal);
        }

        Assert.Equal(3, passwords.Distinct().Count());
        Assert.Equal(Users, LedgerWiringOptions.Components.Select(c => c.User));

        // The default user is left as shipped (off), and every other rule is the shipped file's.
        var shipped = File.ReadAllLines(Path.Combine(TestSupport.RepositoryPaths.Root(), "config", "redis", "users.acl"));
        var rendered = acl.TrimEnd('\n').Split('\n');
        Assert.Equal(shipped.Length, rendered.Length);
        Assert.Equal(shipped[0], rendered[0]);
        Assert.StartsWith("user default off", rendered[0], StringComparison.Ordinal);
        for (var i = 1; i < shipped.Length; i++)
        {
            Assert.StartsWith(shipped[i] + " on #", rendered[i], StringComparison.Ordinal);
        }

        Assert.Equal("tollgate-operator", cluster.Secret("tollgate-ledger-meter")!["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!.GetValue<string>());
        Assert.Equal(LedgerCredentialsController.Checksum(acl), cluster.TemplateAnnotation(LedgerCredentialsController.ChecksumAnnotation));
    }

    [Fact]
    public async Task A_second_pass_writes_nothing()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);
        cluster.Api.ClearRequests();

        var result = await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);

        Assert.False(result.Failed, result.Error);
        Assert.Empty(cluster.Writes());
    }

    [Fact]
    public async Task A_password_set_by_a_human_is_kept_and_a_rotation_accepts_both_until_the_previous_one_is_removed()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        SeedCredentials(cluster, "tollgate-ledger-exporter", "tollgate-exporter", ("password", "chosen-by-a-human"));
        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);
        Assert.Equal("chosen-by-a-human", cluster.SecretText("tollgate-ledger-exporter", "password"));
        Assert.EndsWith($" on #{Sha256("chosen-by-a-human")}", ExporterLine(cluster), StringComparison.Ordinal);
        var before = cluster.TemplateAnnotation(LedgerCredentialsController.ChecksumAnnotation);

        // Step one of a rotation: the new password, with the old one kept while clients move over.
        await ReplaceAsync(cluster, "tollgate-ledger-exporter", ("user", "tollgate-exporter"), ("password", "the-new-one"), ("previous-password", "chosen-by-a-human"));
        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);
        Assert.EndsWith($" on #{Sha256("the-new-one")} #{Sha256("chosen-by-a-human")}", ExporterLine(cluster), StringComparison.Ordinal);
        var during = cluster.TemplateAnnotation(LedgerCredentialsController.ChecksumAnnotation);
        Assert.NotEqual(before, during);

        // Step two: the old one goes, and so does its hash; Redis is restarted again to forget it.
        await ReplaceAsync(cluster, "tollgate-ledger-exporter", ("user", "tollgate-exporter"), ("password", "the-new-one"));
        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);
        Assert.EndsWith($" on #{Sha256("the-new-one")}", ExporterLine(cluster), StringComparison.Ordinal);
        Assert.NotEqual(during, cluster.TemplateAnnotation(LedgerCredentialsController.ChecksumAnnotation));
        Assert.Equal("the-new-one", cluster.SecretText("tollgate-ledger-exporter", "password"));
    }

    [Theory]
    [InlineData("tollgate-meter", "x")]
    [InlineData("tollgate-exporter", "")]
    public async Task A_secret_naming_another_user_or_no_password_fails_the_pass_and_is_neither_repaired_nor_rendered(string user, string password)
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);
        var acl = cluster.SecretText("tollgate-redis-users", "users.acl");
        await ReplaceAsync(cluster, "tollgate-ledger-exporter", ("user", user), ("password", password));
        cluster.Api.ClearRequests();

        var result = await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);

        Assert.True(result.Failed);
        Assert.Contains("tollgate-ledger-exporter", result.Error, StringComparison.Ordinal);
        Assert.Empty(cluster.Writes());
        Assert.Equal(acl, cluster.SecretText("tollgate-redis-users", "users.acl"));
    }

    [Fact]
    public async Task An_edited_acl_secret_is_put_back()
    {
        await using var cluster = await LedgerCluster.StartAsync();
        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);
        var acl = cluster.SecretText("tollgate-redis-users", "users.acl");
        await ReplaceAsync(cluster, "tollgate-redis-users", ("users.acl", "user default on nopass ~* +@all\n"));

        await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);

        Assert.Equal(acl, cluster.SecretText("tollgate-redis-users", "users.acl"));
    }

    [Fact]
    public async Task Without_the_shipped_statefulset_the_secrets_are_still_written_and_nothing_is_restarted()
    {
        await using var cluster = await LedgerCluster.StartAsync(statefulSet: false);
        var result = await cluster.Credentials.ReconcileAsync(LedgerCredentialsController.Key, CancellationToken.None);

        Assert.False(result.Failed, result.Error);
        Assert.NotNull(cluster.SecretText("tollgate-redis-users", "users.acl"));
        Assert.DoesNotContain(cluster.Writes(), w => w.Contains("statefulsets", StringComparison.Ordinal));
    }

    private static string ExporterLine(LedgerCluster cluster) =>
        cluster.SecretText("tollgate-redis-users", "users.acl")!.Split('\n').Single(l => l.StartsWith("user tollgate-exporter ", StringComparison.Ordinal));

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static void SeedCredentials(LedgerCluster cluster, string name, string user, params (string Key, string Value)[] more) =>
        cluster.Api.Seed("", "v1", "secrets", SecretObject(name, [("user", user), .. more]));

    /// <summary>What <c>kubectl apply</c> of an edited Secret does.</summary>
    private static async Task ReplaceAsync(LedgerCluster cluster, string name, params (string Key, string Value)[] data)
    {
        var current = cluster.Secret(name)!;
        var replacement = SecretObject(name, data);
        replacement["metadata"]!["resourceVersion"] = current["metadata"]!["resourceVersion"]!.DeepClone();
        using var client = new k8s.Kubernetes(cluster.Api.Configuration);
        await client.CoreV1.ReplaceNamespacedSecretAsync(k8s.KubernetesJson.Deserialize<k8s.Models.V1Secret>(replacement.ToJsonString()), name, LedgerCluster.Namespace);
    }

    private static JsonObject SecretObject(string name, (string Key, string Value)[] data)
    {
        var encoded = new JsonObject();
        foreach (var (key, value) in data)
        {
            encoded[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = LedgerCluster.Namespace },
            ["type"] = "Opaque",
            ["data"] = encoded,
        };
    }
}
