using Tollgate.Operator.Crds;

namespace Tollgate.Operator;

/// <summary>The operator's entry point. For now it only generates the CRDs; the controllers and webhook host come next.</summary>
internal static class OperatorProgram
{
    public static int Main(string[] args)
    {
        if (args is ["generate-crds", .. var rest] && rest.Length <= 1)
        {
            // Relative to where the command was typed (RunWorkingDirectory), so "crds/" means the repository's folder.
            var directory = rest is [var given] ? given : "crds";
            foreach (var path in CrdGenerator.Write(directory))
            {
                Console.WriteLine($"wrote {path}");
            }

            return 0;
        }

        Console.Error.WriteLine("usage: Tollgate.Operator generate-crds [directory]   (default directory: crds)");
        return 2;
    }
}
