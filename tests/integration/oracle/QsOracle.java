// SPDX-License-Identifier: Apache-2.0
// Apache ZooKeeper 3.8's own QuorumServer and QuorumMaj as a line oracle for
// test_membership.py: "parse" mode prints OK <toString> or ERR <exception>
// per stdin line; "maj" reads a Properties text and prints QuorumMaj.toString;
// "hier SID,SID ..." reads one and prints QuorumHierarchical.toString, then
// "yes" or "no" for containsQuorum of each comma-separated set of sids.
import java.io.*;
import java.util.*;
import org.apache.zookeeper.server.quorum.QuorumPeer.QuorumServer;
import org.apache.zookeeper.server.quorum.flexible.QuorumHierarchical;
import org.apache.zookeeper.server.quorum.flexible.QuorumMaj;
public class QsOracle {
    public static void main(String[] a) throws Exception {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in));
        if (a.length > 0 && a[0].equals("maj")) {
            Properties p = new Properties();
            p.load(r);
            try { System.out.print(new QuorumMaj(p).toString()); System.out.println("\n#end"); }
            catch (Exception e) { System.out.println("ERR " + e.getClass().getSimpleName() + ": " + e.getMessage()); }
            return;
        }
        if (a.length > 0 && a[0].equals("hier")) {
            Properties p = new Properties();
            p.load(r);
            try {
                QuorumHierarchical q = new QuorumHierarchical(p);
                System.out.print(q.toString());
                System.out.println("\n#end");
                for (int i = 1; i < a.length; i++) {
                    Set<Long> set = new HashSet<Long>();
                    for (String sid : a[i].split(",")) {
                        if (!sid.isEmpty()) set.add(Long.parseLong(sid));
                    }
                    System.out.println(q.containsQuorum(set) ? "yes" : "no");
                }
            } catch (Exception e) { System.out.println("ERR " + e.getClass().getSimpleName() + ": " + e.getMessage()); }
            return;
        }
        String line;
        while ((line = r.readLine()) != null) {
            try { System.out.println("OK " + new QuorumServer(7, line).toString()); }
            catch (Exception e) { System.out.println("ERR " + e.getClass().getSimpleName() + ": " + e.getMessage()); }
        }
    }
}
