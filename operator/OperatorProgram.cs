using Tollgate.Operator.Crds;
using Tollgate.Operator.Hosting;

namespace Tollgate.Operator;

/// <summary>
/// The operator's entry point: <c>generate-crds [directory]</c> writes the CRDs; anything else (no arguments, as the
/// container starts it, or <c>--Key=value</c> settings) runs the controllers, see <see cref="OperatorRunner"/>.
/// </summary>
internal static class OperatorProgram
{
    public static int Main(string[] args)
    {
        if (args is ["generate-crds", .. var rest])
        {
            if (rest.Length > 1)
            {
                Console.Error.WriteLine("usage: Tollgate.Operator generate-crds [directory]   (default directory: crds)");
                return 2;
            }

            // Relative to where the command was typed (RunWorkingDirectory), so "crds/" means the repository's folder.
            var directory = rest is [var given] ? given : "crds";
            foreach (var path in CrdGenerator.Write(directory))
            {
                Console.WriteLine($"wrote {path}");
            }

            return 0;
        }

        if (args is ["--help" or "-h" or "help"])
        {
            Console.WriteLine("usage: Tollgate.Operator generate-crds [directory]   write the CRDs (default directory: crds)");
            Console.WriteLine("       Tollgate.Operator [--Tollgate:Key=value ...]   run the controllers (settings also from Tollgate__* env vars)");
            return 0;
        }

        return OperatorRunner.RunAsync(args).GetAwaiter().GetResult();
    }
}
